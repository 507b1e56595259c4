import ArgumentParser
import CofferCore
import CofferCrypto
import Foundation

extension Keys {
    struct KeysRotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Give an environment a new age identity and rewrap every bundle for it, without rewriting any payload.",
            discussion: """
                For every artifact the file key is taken from its age header with the current identity and wrapped for a new recipient in a new header object beside the untouched payload; the manifest is re-signed. Only headers and manifests move (a few KB a bundle), whatever the size of the data. Safe to kill at any moment: every bundle stays restorable with the old or the new identity, and running the command again finishes the job with the same new identity (kept in ENV.age.next until done). The old identity stays in ENV.age, after the new one, until `coffer keys rotate --retire`, which removes it once no bundle needs it and otherwise names the bundles that still do. A rotation that the current identity cannot do for every bundle is refused before anything changes. Holds the repository lock of the environment (with --signing: of every environment) while it works; exit 7 while another run holds it (see --wait).
                """
        )

        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("env"), help: ArgumentHelp("Environment to rotate (default: the config's).", valueName: "name"))
        var environmentName: String?

        @Flag(help: "Remove the old identities from ENV.age (refused while a bundle still needs one).")
        var retire = false

        @Flag(help: "Also re-encrypt every payload under fresh file keys (for an identity that leaked; reads and writes all the data).")
        var reencrypt = false

        @Flag(help: "Rotate the signing key instead: the old key stays trusted (keys/trusted-signers) for what it signed until now.")
        var signing = false

        @Flag(help: "With --signing: the old key leaked. Drop it from trusted-signers and re-sign every manifest and journal event.")
        var leaked = false

        @Option(name: .customLong("password-env"), help: ArgumentHelp("Password of an encrypted signing key, from this environment variable.", valueName: "var"))
        var passwordVariable: String?

        @OptionGroup var lock: LockOptions

        func run() async throws {
            try await reportingErrors {
                let config = try global.loadConfig().selecting(environment: environmentName)
                // A new signing key concerns every environment's snapshots; an identity only its own.
                let leases = signing ? try lock.acquireAll(config, purpose: "keys rotate") : [try lock.acquire(config, purpose: "keys rotate")]
                defer { for lease in leases { try? lease.release() } }
                let operation = KeyRotationOperation(config: config, environment: ProcessInfo.processInfo.environment, progress: TerminalProgress())
                if signing {
                    try rotateSigningKey(operation, config: config)
                    return
                }
                if retire {
                    let needing = try operation.retireOldIdentities()
                    if global.json { try printJSON(["retired": needing.isEmpty, "bundles_needing_old_keys": needing]) }
                    guard needing.isEmpty else {
                        if !global.json {
                            for id in needing { say("still needs an old identity: \(id)") }
                        }
                        throw CofferError(.refused, "\(needing.count) bundle(s) still need an old identity; run `coffer keys rotate` first")
                    }
                    if !global.json { say("old identities removed; \(config.environment.rawValue) has only its active identity") }
                    return
                }
                let signingKey = try loadSigningKey(config, passwordVariable: passwordVariable)
                let report = try operation.run(signingKey: signingKey, reencrypt: reencrypt)
                if global.json {
                    try printJSON([
                        "recipient": report.recipient, "rotated": report.rotated, "already_done": report.alreadyDone,
                        "bytes_moved": report.bytesMoved, "left_behind": report.leftBehind,
                    ])
                    return
                }
                sayLeftBehind(report.leftBehind)
                say("new recipient: \(report.recipient)")
                let what = reencrypt ? "re-encrypted" : "rewrapped"
                let moved = reencrypt ? "payloads, headers and manifests" : "headers and manifests"
                say("\(what) \(report.rotated.count) bundle(s)\(report.alreadyDone.isEmpty ? "" : ", \(report.alreadyDone.count) already done"); \(report.bytesMoved) bytes of \(moved) moved")
                say("the old identity stays in ENV.age until `coffer keys rotate --retire`")
            }
        }

        /// The replaced headers and manifests a lock (or a refused delete) keeps: harmless, and named.
        private func sayLeftBehind(_ keys: [String]) {
            guard !keys.isEmpty else { return }
            warn(
                "\(keys.count) replaced object(s) stay in the repository: S3 Object Lock keeps them until their retention ends, or the server refused their delete; `coffer prune` removes them with their bundle (first: \(keys[0]))")
        }

        func validate() throws {
            if leaked && !signing { throw ValidationError("--leaked goes with --signing") }
            if signing && (retire || reencrypt) { throw ValidationError("--retire and --reencrypt are for identities; they do not go with --signing") }
        }

        private func rotateSigningKey(_ operation: KeyRotationOperation, config: CofferConfig) throws {
            let password = { try signingKeyPassword(passwordVariable) }
            let current = try KeyStore(directory: config.keysDirectory).signingKey(password: password)
            // The new key is protected as the old one was: encrypted under the same password when one was given.
            let encrypted = passwordVariable != nil
            let report = try operation.rotateSigningKey(
                current: current, leaked: leaked,
                keyFile: { key in
                    guard encrypted else { return key.fileContents() }
                    return key.fileContents(password: try password())
                }, password: password)
            if global.json {
                try printJSON([
                    "old_key_id": report.oldKeyID, "new_key_id": report.newKeyID, "resigned": report.resigned,
                    "journal_events_resigned": report.journalEventsResigned, "leaked": leaked, "left_behind": report.leftBehind,
                ])
                return
            }
            sayLeftBehind(report.leftBehind)
            say("new signing key \(report.newKeyID) (signing.key, signing.pub); keys/trusted-signers updated")
            if leaked {
                say("re-signed \(report.resigned.count) bundle(s) and \(report.journalEventsResigned) journal event(s); key \(report.oldKeyID) is no longer trusted")
            } else {
                say("key \(report.oldKeyID) stays trusted for what it signed until now")
            }
        }
    }
}
