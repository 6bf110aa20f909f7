package jserial

import (
	"slices"
	"unsafe"
)

// sizeClasses are the sizes the Go runtime allocates objects of up to 32 KiB in: an
// allocation takes the smallest class that holds it, and one holding pointers of more
// than a pointer's bits times its bytes (512 bytes on 64-bit platforms, 128 on 32-bit
// ones) holds an 8-byte header beside them. Beyond, an allocation takes whole pages of
// 8 KiB. TestSizeClasses checks allocSize against what the runtime counts.
var sizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
	240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152,
	1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528,
	6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072,
	20480, 21760, 24576, 27264, 28672, 32768}

const (
	allocPage       = 8 << 10
	allocHeader     = 8 // the header of an object holding pointers beyond allocHeaderFrom
	allocHeaderFrom = 8 * unsafe.Sizeof(uintptr(0)) * unsafe.Sizeof(uintptr(0))
)

// allocSize is the bytes an allocation of n bytes holding pointers (an Object, Slots,
// values) takes: n, with its header beyond allocHeaderFrom bytes, rounded up to its
// size class, or to whole pages beyond the largest class; 0 for 0.
func allocSize(n int) int {
	if n <= 0 {
		return 0
	}
	largest := sizeClasses[len(sizeClasses)-1]
	if n > largest-allocHeader {
		return (n + allocPage - 1) / allocPage * allocPage
	}
	if n > int(allocHeaderFrom) {
		n += allocHeader
	}
	i, _ := slices.BinarySearch(sizeClasses[:], n)
	return sizeClasses[i]
}
