package link

import (
	"context"
	"sync"
)

// queue is an unbounded FIFO with two ways to end: close lets the consumer drain what is queued
// before it sees the reason, abort drops what is queued.
type queue[T any] struct {
	mu    sync.Mutex
	items []T
	head  int
	err   error // set when closed or aborted
	drop  bool  // aborted: pop returns err at once
	ready chan struct{}
}

func newQueue[T any]() *queue[T] { return &queue[T]{ready: make(chan struct{}, 1)} }

func (q *queue[T]) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// push appends v, or returns the reason the queue ended.
func (q *queue[T]) push(v T) error {
	q.mu.Lock()
	if q.err != nil {
		err := q.err
		q.mu.Unlock()
		return err
	}
	q.items = append(q.items, v)
	q.mu.Unlock()
	q.signal()
	return nil
}

// pop removes the oldest item, waiting until one arrives, the queue ends or ctx ends.
func (q *queue[T]) pop(ctx context.Context) (T, error) {
	var zero T
	for {
		q.mu.Lock()
		if q.drop {
			err := q.err
			q.mu.Unlock()
			q.signal()
			return zero, err
		}
		if q.head < len(q.items) {
			v := q.items[q.head]
			q.items[q.head] = zero
			q.head++
			if q.head == len(q.items) {
				q.items, q.head = q.items[:0], 0
			} else if q.head > 64 && q.head*2 > len(q.items) {
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items, q.head = q.items[:n], 0
			}
			more := q.head < len(q.items)
			q.mu.Unlock()
			if more {
				q.signal() // wake another consumer, if any
			}
			return v, nil
		}
		if q.err != nil {
			err := q.err
			q.mu.Unlock()
			q.signal()
			return zero, err
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
	}
}

// close ends the queue after what it holds: later pushes fail with err and pop returns err once
// the queue is empty. Only the first close or abort counts.
func (q *queue[T]) close(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.mu.Unlock()
	q.signal()
}

// abort ends the queue now and drops what it holds. An abort after a close still drops.
func (q *queue[T]) abort(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.drop = true
	clear(q.items)
	q.items, q.head = nil, 0
	q.mu.Unlock()
	q.signal()
}

// len is the number of queued items.
func (q *queue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}
