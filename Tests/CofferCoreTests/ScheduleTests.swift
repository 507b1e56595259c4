import Foundation
import Testing

@testable import CofferCore

@Suite("schedules: [schedule], cron translation, durations")
struct ScheduleTests {
    @Test("calendar expressions cron can run exactly become its five fields")
    func translations() {
        let cases: [(String, String)] = [
            ("*-*-* 02:00:00", "0 2 * * *"), ("*-*-* 03:15", "15 3 * * *"), ("Sun 04:00", "0 4 * * 0"),
            ("Sun *-*-* 02:00:00", "0 2 * * 0"), ("Mon..Fri 06:30", "30 6 * * 1-5"), ("Sat,Sun 01:05:00", "5 1 * * 6,0"),
            ("Fri..Sun 22:00", "0 22 * * 5-7"), ("*-*-01 00:30:00", "30 0 1 * *"), ("*-06-15 12:00", "0 12 15 6 *"),
            ("daily", "0 0 * * *"), ("weekly", "0 0 * * 1"), ("hourly", "0 * * * *"), ("monthly", "0 0 1 * *"),
            ("*-*-* 02,14:00:00", "0 2,14 * * *"), ("*-*-* *:0/15", "0-59/15 * * * *"), ("*-*-* 08..18:00", "0 8-18 * * *"),
        ]
        for (expression, fields) in cases {
            #expect(CronSchedule.fields(onCalendar: expression) == fields, "\(expression)")
        }
    }

    @Test("what cron cannot say exactly has no translation")
    func untranslatable() {
        for expression in [
            "*-*-* 02:00:30", "2027-*-* 02:00", "Mon *-*-01 02:00", "*-*-* 02:00 Europe/Berlin", "Mon 25:00", "*-*-* 02:60",
            "minutely", "Moonday 02:00", "*-*-* 02:00:00.5", "",
        ] {
            #expect(CronSchedule.fields(onCalendar: expression) == nil, "\(expression)")
        }
    }

    @Test("[schedule] keys parse; wrong ones name the key")
    func config() throws {
        let config = try ConfigLoader.parse(
            """
            environment = "production"
            [schedule]
            on_calendar = "*-*-* 03:15:00"
            randomized_delay = "5m"
            user = "coffer"
            environment_file = "coffer.env"
            cron = "15  3 * * *"
            wait = "1h"
            verify = false
            """, path: "/srv/app/coffer.toml")
        #expect(config.schedule.onCalendar == "*-*-* 03:15:00")
        #expect(config.schedule.randomizedDelay == 300)
        #expect(config.schedule.user == "coffer")
        #expect(config.schedule.environmentFile == "/srv/app/coffer.env")
        #expect(config.schedule.cron == "15 3 * * *")
        #expect(config.schedule.wait == 3600)
        #expect(config.schedule.verify == false)

        let defaults = try ConfigLoader.parse("environment = \"staging\"\n", path: "/srv/app/coffer.toml").schedule
        #expect(defaults.onCalendar == nil && defaults.randomizedDelay == 600 && defaults.wait == 1800 && defaults.verify)

        for (line, key) in [
            ("randomized_delay = \"soon\"", "[schedule] randomized_delay"), ("user = \"bad user\"", "[schedule] user"),
            ("cron = \"3 * *\"", "[schedule] cron"), ("on_calendar = \"\"", "[schedule] on_calendar"), ("every = \"day\"", "[schedule] every"),
        ] {
            #expect(throws: CofferError.self) { try ConfigLoader.parse("[schedule]\n\(line)\n", path: "/c.toml") }
            do {
                _ = try ConfigLoader.parse("[schedule]\n\(line)\n", path: "/c.toml")
            } catch let error as CofferError {
                #expect(error.category == .config && error.message.contains(key), "\(error.message)")
            }
        }
    }

    @Test("the configuration block of docs/OPERATIONS.md loads, [schedule] included")
    func documentedConfig() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/OPERATIONS.md").standardized.path
        let text = try String(contentsOfFile: root, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Configuration\n").dropFirst().first)
        let block = try #require(section.components(separatedBy: "```toml\n").dropFirst().first?.components(separatedBy: "```").first)
        let config = try ConfigLoader.parse(block, path: "/etc/coffer/coffer.toml")
        #expect(config.schedule.onCalendar == "*-*-* 03:15:00" && config.schedule.environmentFile == "/etc/coffer/coffer.env")
        #expect(config.schedule.cron == CronSchedule.fields(onCalendar: "*-*-* 03:15:00"))
    }

    @Test("durations: units, sums, bare seconds; the format picks the largest exact unit")
    func durations() {
        #expect(DurationText.seconds("10m") == 600)
        #expect(DurationText.seconds("1h30m") == 5400)
        #expect(DurationText.seconds("45") == 45)
        #expect(DurationText.seconds("2 min") == 120)
        #expect(DurationText.seconds("0") == 0)
        #expect(DurationText.seconds("-5") == nil)
        #expect(DurationText.seconds("10 parsecs") == nil)
        #expect(DurationText.seconds("") == nil)
        #expect(DurationText.format(1800) == "30m")
        #expect(DurationText.format(7200) == "2h")
        #expect(DurationText.format(90) == "90s")
    }

    @Test("ExecStart words and shell words are quoted and escaped")
    func quoting() {
        #expect(SchedulePlan.systemdQuoted("/usr/local/bin/coffer") == "/usr/local/bin/coffer")
        #expect(SchedulePlan.systemdQuoted("/srv/my app/coffer.toml") == "\"/srv/my app/coffer.toml\"")
        #expect(SchedulePlan.systemdQuoted("/srv/100%/$HOME") == "/srv/100%%/$$HOME")
        #expect(SchedulePlan.systemdQuoted("/srv/a \"b\"") == "\"/srv/a \\\"b\\\"\"")
        #expect(SchedulePlan.shellQuoted("/srv/it's here") == "'/srv/it'\\''s here'")
    }
}
