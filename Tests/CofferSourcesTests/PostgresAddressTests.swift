import Testing
@testable import CofferSources

@Suite("PostgreSQL connection strings and client programs")
struct PostgresAddressTests {
    @Test("libpq splits the URL; the password is only in the child's environment, never in the description")
    func address() throws {
        let address = try PostgresAddress("postgresql://app:s%40cret@db.internal:5433/shop?sslmode=require")
        #expect("\(address)" == "postgresql://app@db.internal:5433/shop")
        #expect(address.database == "shop")
        let env = address.environment
        #expect(env["PGPASSWORD"] == "s@cret" && env["PGHOST"] == "db.internal" && env["PGPORT"] == "5433")
        #expect(env["PGDATABASE"] == "shop" && env["PGSSLMODE"] == "require" && env["PGUSER"] == "app")
        #expect(address.with(database: "shop__coffer_1").environment["PGDATABASE"] == "shop__coffer_1")
        #expect(try PostgresAddress("host=/run/postgresql dbname=x").database == "x")
        #expect { try PostgresAddress("postgresql://app:pw@host/db?nonsense=1") } throws: { error in
            "\(error)".contains("not valid") && !"\(error)".contains("pw@")
        }
    }

    @Test("no pg_dump new enough for the server: the error names both versions and the package")
    func tooOld() {
        #expect { try PostgresTools.program("pg_dump", forServer: 99) } throws: { error in
            "\(error)".contains("PostgreSQL 99") && "\(error)".contains("postgresql-client-99")
        }
    }

    @Test("a connection string libpq cannot parse is refused without echoing any part of it (the password, say)")
    func parseErrorsDoNotEcho() throws {
        for url in ["postgresql://u:Sup3r%zzSecretPw@host/db", "host=h password='Sup3rSecretPw", "host=h bogus_Sup3rSecretPw=1"] {
            var message = ""
            do { _ = try PostgresAddress(url) } catch { message = "\(error)" }
            #expect(message.contains("not valid"), "\(message)")
            #expect(!message.contains("Sup3r"), "\(message)")
        }
    }
}
