// Package thp asks Linux for transparent huge pages for the parts of the Go heap that a
// process is about to fill quickly: a joiner's heap during a state transfer, and the
// buffers large frames are read into.
//
// A joiner's heap grows by about 1.5 GB in a few seconds when a million sessions of
// 1 KiB arrive, and the kernel faults every 4 KiB page of it in on first touch. On a
// virtual machine such a fault costs several microseconds: on the machine the benchmarks
// run on, touching 1.5 GB of new memory took 3.7 to 4.8 s in 4 KiB pages and 0.8 to
// 2.3 s in 2 MiB pages. The Go runtime does not ask for huge pages for its heap, and
// most distributions run transparent huge pages in "madvise" mode, where a mapping gets
// them only when asked with madvise(MADV_HUGEPAGE). Advise and AdviseBytes ask for
// them for the 4 MiB chunks of the heap that hold an object (the runtime maps its heap
// in such chunks as it grows, and a new mapping starts without the advice), once per
// chunk.
//
// The advice changes nothing about the memory's contents. A kernel without transparent
// huge pages, or with them off ("never"), ignores it; GODEBUG=disablethp=1, the Go
// runtime's own switch against huge pages for the heap, turns it off; other systems
// than Linux do nothing.
package thp
