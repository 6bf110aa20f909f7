// Package thp asks Linux for transparent huge pages for the Go heap while a process fills
// it fast: while a state transfer is received, for the buffers its chunks are read into
// and for the sessions they become.
//
// A joiner's heap grows by about 1.5 GB in a few seconds when a million sessions of
// 1 KiB arrive, and the kernel faults every 4 KiB page of it in on first touch. On a
// virtual machine such a fault costs several microseconds: on the machine the benchmarks
// run on, touching 1.5 GB of new memory took 3.7 to 4.8 s in 4 KiB pages and 0.8 to
// 2.3 s in 2 MiB pages. The Go runtime does not ask for huge pages for its heap, and
// most distributions run transparent huge pages in "madvise" mode, where a mapping gets
// them only when asked with madvise(MADV_HUGEPAGE).
//
// Hold opens a period of advice and returns its end. While one is open, Advise and
// AdviseBytes ask for huge pages for the 4 MiB chunks of the heap that hold an object
// (the runtime maps its heap in such chunks as it grows, and a new mapping starts without
// advice), once per chunk. When the last period ends, every chunk advised is given
// MADV_NOHUGEPAGE, which in "madvise" mode is what a mapping has by default: the pages
// that are huge stay so, but the kernel's khugepaged no longer gathers pages of those
// chunks into huge ones, so memory the runtime returns to the system later stays returned.
//
// The advice changes nothing about the memory's contents. Nothing is advised unless the
// system's mode is "madvise" (/sys/kernel/mm/transparent_hugepage/enabled): in "always"
// mode the heap gets huge pages anyway, in "never" mode none. GODEBUG=disablethp=1, the
// Go runtime's own switch against huge pages for the heap, turns it off; other systems
// than Linux do nothing.
package thp
