//! The caller's environment, as the kernel passed it (on Windows: the UTF-16
//! block converted to WTF-8, see sys_windows.processEnv).

const std = @import("std");

/// Windows variable names are case-insensitive ("Path" is "PATH").
const ignore_case = @import("sys.zig").Impl.names_ignore_case;

pub const Env = struct {
    vars: []const [*:0]const u8,

    /// The value of *name*, or null if unset. An empty value counts as set.
    pub fn get(self: Env, name: []const u8) ?[]const u8 {
        for (self.vars) |entry| {
            const kv = std.mem.span(entry);
            if (kv.len > name.len and kv[name.len] == '=' and nameEql(kv[0..name.len], name))
                return kv[name.len + 1 ..];
        }
        return null;
    }

    /// The value of *name* if set and not empty.
    pub fn nonEmpty(self: Env, name: []const u8) ?[]const u8 {
        const v = self.get(name) orelse return null;
        return if (v.len == 0) null else v;
    }
};

/// Whether two variable names are the same variable.
pub fn nameEql(a: []const u8, b: []const u8) bool {
    return if (ignore_case) std.ascii.eqlIgnoreCase(a, b) else std.mem.eql(u8, a, b);
}

/// The variable name of a "NAME=value" entry. On Windows a name may start
/// with '=' (the hidden per-drive directories, "=C:=C:\dir").
pub fn nameOf(entry: []const u8) []const u8 {
    const from: usize = if (ignore_case) @min(1, entry.len) else 0;
    const eq = std.mem.indexOfScalarPos(u8, entry, from, '=') orelse return entry;
    return entry[0..eq];
}
