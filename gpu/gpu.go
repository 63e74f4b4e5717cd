// Package gpu runs the parties' local Z_2^64 arithmetic on an NVIDIA GPU when the binary is
// built with the build tag cuda and a CUDA driver is present; otherwise every entry point
// declines and callers use the CPU path.
package gpu
