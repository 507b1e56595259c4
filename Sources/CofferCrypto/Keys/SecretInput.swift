#if canImport(Glibc)
import Glibc
#endif

/// Passwords from the environment or a terminal, read straight into locked memory.
public enum SecretInput {
    /// The value of environment variable `name`, or nil when it is unset.
    /// (The process environment itself cannot be wiped; prefer a short-lived variable.)
    public static func fromEnvironment(_ name: String) -> SecureBytes? {
        guard let value = getenv(name) else { return nil }
        let length = strlen(value)
        return SecureBytes(copying: UnsafeRawBufferPointer(start: value, count: length))
    }

    /// Asks on the controlling terminal with echo off; nil when there is no terminal.
    public static func fromTerminal(prompt: String) -> SecureBytes? {
        let tty = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        var saved = termios()
        guard tcgetattr(tty, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        _ = prompt.withCString { write(tty, $0, strlen($0)) }
        tcsetattr(tty, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(tty, TCSAFLUSH, &saved)
            _ = write(tty, "\n", 1)
        }
        var buffer = SecureBytes(zeroed: 1024)
        var length = 0
        buffer.withUnsafeMutableBytes { bytes in
            while length < bytes.count {
                var byte: UInt8 = 0
                let n = read(tty, &byte, 1)
                if n <= 0 || byte == 0x0A { break }
                bytes[length] = byte
                byte = 0
                length += 1
            }
        }
        return buffer.slice(0..<length)
    }
}
