package role

import "testing"

func TestParty(t *testing.T) {
	tests := []struct {
		proto   Protocol
		role    Role
		want    int
		wantErr bool
	}{
		{TwoPC, P0, 0, false},
		{TwoPC, P1, 1, false},
		{TwoPC, Dealer, 2, false},
		{TwoPC, P2, -1, true},
		{ThreePC, P2, 2, false},
		{ThreePC, Dealer, -1, true},
		{ThreePC, Client, -1, true},
		{Protocol("4pc"), P0, -1, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.proto)+"/"+string(tt.role), func(t *testing.T) {
			got, err := tt.proto.Party(tt.role)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Party = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				back, err := tt.proto.Role(got)
				if err != nil || back != tt.role {
					t.Fatalf("Role(%d) = %q, %v", got, back, err)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		wantErr bool
	}{
		{"p0", P0, false}, {" Dealer ", Dealer, false}, {"client", Client, false}, {"p3", "", true}, {"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Parse(%q) = %q, %v", tt.in, got, err)
			}
		})
	}
	if _, err := ParseProtocol("2PC"); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProtocol("mpc"); err == nil {
		t.Fatal("ParseProtocol accepted mpc")
	}
}
