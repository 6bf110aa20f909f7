package nio

import (
	"sync"
	"testing"
	"time"
)

// chainJob resubmits itself until it ran n times, then signals done.
type chainJob struct {
	p    *workerPool
	n    int
	runs int
	done *sync.WaitGroup
}

func (j *chainJob) run() {
	j.runs++
	if j.runs < j.n {
		j.p.submit(j)
		return
	}
	j.done.Done()
}

// The workers' FIFO stays as large as the jobs it holds, also when it never empties: a
// busy EngineGnet receiver (more connections with queued messages than Workers) keeps
// connections waiting in it at every moment. It grew by one slot per job ever submitted
// until it ran empty (the slots already taken were only reused then): 16 bytes per
// delivered batch, for as long as the load lasted.
func TestWorkerQueueBoundedWhenNeverEmpty(t *testing.T) {
	const runs = 200000
	p := newWorkerPool(0) // no worker yet: both jobs are queued before the first runs
	var done sync.WaitGroup
	done.Add(2)
	p.submit(&chainJob{p: p, n: runs, done: &done})
	p.submit(&chainJob{p: p, n: runs, done: &done})
	p.wg.Go(p.loop) // one worker: while it runs one job, the other waits in the FIFO
	finished := make(chan struct{})
	go func() {
		done.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(waitTimeout):
		t.Fatal("the jobs did not finish")
	}
	p.mu.Lock()
	size := cap(p.q)
	p.mu.Unlock()
	<-p.close()
	if size > 4096 {
		t.Fatalf("the FIFO has room for %d jobs after %d runs of 2 jobs that kept it from emptying; want a few", size, 2*runs)
	}
}
