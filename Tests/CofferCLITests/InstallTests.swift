import Foundation
import Testing

/// The package's root folder (Makefile, examples/).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path

/// The man page of the `coffer` this test run built, from the `generate-manual`
/// tool of swift-argument-parser: the tool its generate-manual plugin builds and
/// runs with the same arguments. `make install` runs the plugin; inside `swift
/// test`, which holds SwiftPM's lock on `.build` while tests run, the plugin would
/// wait for that lock forever, so the tool is built apart, in `.build/generate-manual`
/// (about 15 s the first time).
private func generateManual(_ ws: Workspace) throws -> String {
    let checkout = packageRoot + "/.build/checkouts/swift-argument-parser"
    try #require(FileManager.default.fileExists(atPath: checkout + "/Tools/generate-manual"), "no \(checkout): swift test resolves it")
    let scratch = packageRoot + "/.build/generate-manual"
    let build = try ws.run("swift", ["build", "--package-path", checkout, "--scratch-path", scratch, "--product", "generate-manual"])
    try #require(build.status == 0, "building generate-manual: \(build.stdout)\(build.stderr)")
    let folder = ws.path("manual")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let generate = try ws.run(scratch + "/debug/generate-manual", [cofferBinary, "--output-directory", folder])
    try #require(generate.status == 0, "generate-manual: \(generate.stderr)")
    return folder + "/coffer.1"
}

private let installed = [
    "bin/coffer", "share/man/man1/coffer.1", "share/bash-completion/completions/coffer",
    "share/zsh/site-functions/_coffer", "share/fish/vendor_completions.d/coffer.fish", "share/coffer/open-bundle.sh",
]

@Suite("make install")
struct InstallTests {
    @Test("make install-files: the binary, its man page and bash, zsh and fish completions that work, under PREFIX and DESTDIR; uninstall removes them")
    func installIntoTemporaryPrefix() throws {
        try Workspace.with(keys: false) { ws in
            let manual = try generateManual(ws)
            let prefix = ws.path("prefix")
            let install = try ws.run("make", ["-s", "-C", packageRoot, "install-files", "BIN=\(cofferBinary)", "MANUAL=\(manual)", "PREFIX=\(prefix)"])
            #expect(install.status == 0, "\(install.stdout)\(install.stderr)")
            for file in installed {
                let attributes = try FileManager.default.attributesOfItem(atPath: prefix + "/" + file)
                #expect((attributes[.size] as? NSNumber)?.intValue ?? 0 > 100, "\(file)")
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == (file.hasPrefix("bin/") ? 0o755 : 0o644), "\(file)")
            }

            let version = try ws.run(prefix + "/bin/coffer", ["--version"])
            #expect(version.status == 0 && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")

            let page = try ws.run("man", ["-l", prefix + "/share/man/man1/coffer.1"], environment: ["MANPAGER": "cat", "MANWIDTH": "100"])
            #expect(page.status == 0, "\(page.stderr)")
            for text in ["COFFER(1)", "snapshot", "restore", "--in-place", "rollback", "keys"] {
                #expect(page.stdout.contains(text), "the man page lacks \(text)")
            }

            let bash = try ws.run(
                "bash",
                [
                    "-c",
                    """
                    source "$1" && complete -p coffer || exit 1
                    function=$(complete -p coffer | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
                    COMP_LINE="coffer sn"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(coffer sn); COMP_CWORD=1
                    "$function" coffer sn coffer && echo "offered: ${COMPREPLY[*]}"
                    """,
                    "bash", prefix + "/share/bash-completion/completions/coffer",
                ])
            #expect(bash.status == 0 && bash.stdout.contains("complete") && bash.stdout.contains("offered: snapshot"), "\(bash.stdout)\(bash.stderr)")

            let zshFile = prefix + "/share/zsh/site-functions/_coffer"
            #expect(try ws.run("zsh", ["-n", zshFile]).status == 0)
            let zsh = try ws.run(
                "zsh",
                [
                    "-f", "-c",
                    "fpath=(\(prefix)/share/zsh/site-functions $fpath); autoload -Uz compinit; compinit -u -d \(ws.path("zcompdump")); print -r -- $_comps[coffer]",
                ])
            #expect(zsh.status == 0 && zsh.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "_coffer", "\(zsh.stdout)\(zsh.stderr)")

            let fishFile = prefix + "/share/fish/vendor_completions.d/coffer.fish"
            #expect(try ws.run("fish", ["--no-config", "-n", fishFile]).status == 0)
            let fish = try ws.run("fish", ["--no-config", "-c", "source \(fishFile); complete -C 'coffer sn'"])
            #expect(fish.status == 0 && fish.stdout.hasPrefix("snapshot\t"), "\(fish.stdout)\(fish.stderr)")

            // DESTDIR: staged for packaging under the final prefix.
            let stage = ws.path("stage")
            let staged = try ws.run(
                "make", ["-s", "-C", packageRoot, "install-files", "BIN=\(cofferBinary)", "MANUAL=\(manual)", "DESTDIR=\(stage)", "PREFIX=/usr"])
            #expect(staged.status == 0, "\(staged.stderr)")
            for file in installed { #expect(FileManager.default.fileExists(atPath: stage + "/usr/" + file), "\(file)") }

            let uninstall = try ws.run("make", ["-s", "-C", packageRoot, "uninstall", "PREFIX=\(prefix)"])
            #expect(uninstall.status == 0, "\(uninstall.stderr)")
            for file in installed { #expect(!FileManager.default.fileExists(atPath: prefix + "/" + file), "\(file)") }

            let missing = try ws.run("make", ["-s", "-C", packageRoot, "install-files", "BIN=\(cofferBinary)", "MANUAL=\(ws.path("none.1"))", "PREFIX=\(prefix)"])
            #expect(missing.status != 0 && missing.stderr.contains("make install"), "\(missing.stderr)")
            #expect(!FileManager.default.fileExists(atPath: prefix + "/bin/coffer"))
        }
    }
}
