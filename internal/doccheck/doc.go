// Package doccheck holds the test that keeps README.md and docs/*.md true: every fenced
// block in them is compiled, run or checked by TestDocs (go test ./internal/doccheck),
// TestLinksResolve checks that their relative links name files and headings that exist,
// TestCitedTestsExist that every test they and the packages' documentation cite exists,
// TestDocsNameExistingMembers that the fields and methods they name (`Config.MemberWait`)
// exist on the repository's types of those names, TestDocsFlagsExist that every --flag
// they name is one a command of the repository or a Java peer defines,
// TestDocsNameEveryTestDependency that the README and getting-started.md name every
// package the test dependencies' install script installs, and TestNoOutsidePaths keeps
// file names of one machine out of the repository.
//
// What happens to a block depends on its language and on an optional annotation, an HTML
// comment on the line right before the opening fence (invisible on a rendered page):
//
//   - ```go with a package clause: a complete program, type-checked as it is.
//   - ```go of top-level declarations (type, func, var, const): type-checked in a package of
//     its own; the imports of the project's and the standard library's packages it names
//     are added by the test.
//   - ```go of statements: needs <!-- doccheck: fragment func(PARAMS) RESULTS -->, and is
//     type-checked as the body of that function, so PARAMS declare what the text assumes
//     (ctx, ch, …). "{ … }" stands for the reader's own code and compiles as "{}";
//     "declared and not used" is not an error in a fragment.
//   - ```go under <!-- doccheck: excerpt PATH -->: a copy of declarations of the file PATH;
//     each must equal the file's declaration of the same name, comments and blank lines aside.
//   - ```sh: each command runs, in order, from the repository root. "go run ./cmd/tribesdemo"
//     and "./tribesdemo" run one binary the test builds once ("go build -o tribesdemo
//     ./cmd/tribesdemo" names that build); "go build" runs; NAME=value lines set variables
//     for later lines. A command must exit 0 within a minute, or with the status its comment
//     gives as "(exit status N)". "tribesdemo node" and "sessions" without --seconds, and
//     lines ending in "&", run in the background until the file's next block that starts
//     such a command, or its end; the test waits for their "started" line (and a sessions
//     node's "ready" line) and stops them with SIGINT, after which they must exit 0. A line
//     that already passed, with no background command running then or now, is not run again.
//   - ```sh under <!-- doccheck: parse-only REASON -->: the commands are checked but not
//     run: tribesdemo's flags exist in its "-h", "go test" packages exist and their -run and
//     -bench patterns match a test or benchmark, scripts exist. REASON says why (needs
//     Java, root, minutes, a LAN address, placeholders).
//   - ``` (no language) under <!-- doccheck: output COMMAND -->: the printed output of
//     COMMAND, a line of an executed block; lines match with numbers, ids and durations
//     free and runs of spaces equal, and a line "…" stands for any lines.
//   - ``` under <!-- doccheck: text REASON -->: not code (a diagram); counted, not run.
//
// A block that fits none of these fails the test, which names the block by file and line.
// The test logs how many blocks it compiled, ran, compared and only checked, and which.
//
// The commands use the docs' fixed ports (4000, 4001, 4100, 8081–8083) and multicast group
// 228.0.0.4:45564 on 127.0.0.1; documentation tests of several checkouts on one machine take
// turns through a lock file in the temporary directory. The test takes about 40 s; -short
// skips it.
package doccheck
