// Package crossbuild holds the test that keeps the module building on the systems Go users
// develop on besides Linux, where it is tested: TestModuleBuildsForOtherSystems runs `go
// build ./...` and then `go vet ./...` over the whole module for Windows (amd64), macOS
// (arm64) and FreeBSD (amd64), the three in parallel, and fails with the go tool's output.
// The module's packages are compiled with -gcflags='-N -l' (no optimizations: the checks
// are the same, the CPU time about a fifth less) and the commands linked without symbol
// table or DWARF. go vet type-checks every package with its test files, so the tests
// compile there too. A call of a Unix- or Linux-only API outside a file built only there
// (a _unix.go, _linux.go, _unix_test.go, _linux_test.go or build-tagged file, with a file
// for the other systems beside it) fails it. It runs no test there. It skips only when the
// go tool is not found (and then fails under scripts/test.sh, see internal/testenv).
package crossbuild
