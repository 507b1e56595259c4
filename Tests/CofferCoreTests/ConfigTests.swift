import Testing

@testable import CofferCore

private func parse(_ text: String) throws -> CofferConfig {
    try ConfigLoader.parse(text, path: "/srv/app/coffer.toml")
}

private func configError(_ text: String) -> String? {
    do {
        _ = try parse(text)
        return nil
    } catch let error as CofferError {
        #expect(error.category == .config)
        return error.message
    } catch {
        return "\(error)"
    }
}

@Suite("coffer.toml")
struct ConfigTests {
    @Test("the design's example parses; relative paths are relative to the file")
    func example() throws {
        let config = try parse(
            """
            environment = "production"
            repository  = "backups"
            keys        = "keys"

            [retention]
            days = 10
            keep_last = 2

            [[sqlite]]
            name = "app"
            path = "data/app.db"

            [[postgres]]
            name = "main"
            url_env = "DATABASE_URL"

            [[redis]]
            name = "cache"

            [env]
            include = ["JWT_SECRET_KEY", "FERNET_KEY"]
            pattern = "^APP_"
            file = ".env"
            restore_to = ".env"
            """)
        #expect(config.environment == .production)
        #expect(config.repository == "/srv/app/backups")
        #expect(config.keysDirectory == "/srv/app/keys")
        #expect(config.retention.days == 10 && config.retention.keepLast == 2)
        #expect(config.sqlite.first?.path == "/srv/app/data/app.db")
        #expect(config.postgres.first?.urlEnv == "DATABASE_URL")
        #expect(config.redis.first?.urlEnv == "REDIS_URL")
        #expect(config.env?.include == ["JWT_SECRET_KEY", "FERNET_KEY"])
        #expect(config.env?.file == "/srv/app/.env")
    }

    @Test("defaults: development, 7 days; production 30; staging 14")
    func defaults() throws {
        #expect(try parse("").environment == .development)
        #expect(try parse("").retention.days == 7)
        #expect(try parse("environment = \"production\"").retention.days == 30)
        #expect(try parse("environment = \"staging\"").retention.days == 14)
    }

    @Test("a syntax error names the line")
    func syntax() {
        let message = configError("environment = \"production\"\nrepository = \n")
        #expect(message?.contains("coffer.toml:2:") == true, "\(message ?? "")")
    }

    @Test("bad settings are named", arguments: [
        ("enviroment = \"production\"", "enviroment"),
        ("environment = \"prod\"", "environment"),
        ("[retention]\ndays = \"seven\"", "[retention] days"),
        ("[retention]\nday = 3", "[retention] day"),
        ("[[sqlite]]\nname = \"App\"\npath = \"a.db\"", "name"),
        ("[[sqlite]]\nname = \"a\"\npath = \"a.db\"\n[[redis]]\nname = \"a\"", "used by two"),
        ("[[sqlite]]\nname = \"a\"", "path"),
        ("repository = \"s3://bucket/x\"", "[s3]"),
        ("[[files]]\npath = \"uploads\"", "[files #1] name is required"),
        ("[[files]]\nname = \"uploads\"", "[files #1] path is required"),
        ("[[sqlite]]\nname = \"u\"\npath = \"a.db\"\n[[files]]\nname = \"u\"\npath = \"uploads\"", "used by two"),
        ("[[files]]\nname = \"uploads\"\npath = \"uploads\"\nfollow = true", "[files #1] follow is not a known setting"),
        ("[[files]]\nname = \"Up\"\npath = \"uploads\"", "lowercase"),
    ])
    func badSettings(_ text: String, _ named: String) {
        let message = configError(text)
        #expect(message?.contains(named) == true, "\(message ?? "accepted")")
    }

    @Test("[[files]] entries: name and path, the path made absolute against the config's folder, in config order")
    func files() throws {
        let config = try parse(
            """
            [[files]]
            name = "uploads"
            path = "data/uploads"

            [[files]]
            name = "tls"
            path = "/etc/ssl/private/app.pem"
            """)
        #expect(config.files.map(\.name) == ["uploads", "tls"])
        #expect(config.files.map(\.path) == ["/srv/app/data/uploads", "/etc/ssl/private/app.pem"])
        let sources = try SourceCatalog.sources(config, environment: [:])
        #expect(sources.map(\.name) == ["uploads", "tls"])
        #expect(sources.allSatisfy { $0.kind == .file && $0.fileExtension == "tar" })
    }

    @Test("semantic errors point at the line of the bad key")
    func lines() {
        #expect(configError("environment = \"development\"\n\n[retention]\ndays = 0\n")?.contains("coffer.toml:4:") == true)
        #expect(configError("[[sqlite]]\nname = \"a\"\npath = \"a.db\"\n\n[[sqlite]]\nname = \"B\"\npath = \"b.db\"\n")?.contains("coffer.toml:6:") == true)
        #expect(configError("environment = \"dev\"\n")?.contains("coffer.toml:1:") == true)
    }

    @Test("a missing config file says how to give one")
    func missingFile() {
        do {
            _ = try ConfigLoader.load(path: "/nonexistent/coffer.toml")
            Issue.record("loaded a missing file")
        } catch let error as CofferError {
            #expect(error.category == .config)
            #expect(error.message.contains("--config"))
        } catch {
            Issue.record("\(error)")
        }
    }
}
