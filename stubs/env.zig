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

/// Never passed on to Python unless BUNDLER_ISOLATE=0 (they would point it at another installation).
pub const python_vars = [_][]const u8{ "PYTHONHOME", "PYTHONPATH", "PYTHONUSERBASE", "PYTHONSTARTUP", "PYTHONEXECUTABLE" };
/// Set by the stub or the entry launcher for the entry script (replaced, never inherited), or meant for the stub only.
pub const bundler_vars = [_][]const u8{ "BUNDLER_ARTIFACT", "BUNDLER_ARGV0", "BUNDLER_STUB" };

fn isOneOf(name: []const u8, list: []const []const u8) bool {
    for (list) |n| if (nameEql(name, n)) return true;
    return false;
}

/// The start of the interpreter's environment: the caller's variables minus
/// the BUNDLER_* ones the caller of this sets itself and, when *isolate*, the
/// PYTHON* ones that would redirect the interpreter. Append the rest, then null.
pub fn forInterpreter(gpa: std.mem.Allocator, vars: []const [*:0]const u8, isolate: bool) error{OutOfMemory}!std.ArrayList(?[*:0]const u8) {
    var out: std.ArrayList(?[*:0]const u8) = .empty;
    for (vars) |entry| {
        const name = nameOf(std.mem.span(entry));
        if (isOneOf(name, &bundler_vars) or (isolate and isOneOf(name, &python_vars))) continue;
        try out.append(gpa, entry);
    }
    return out;
}

test forInterpreter {
    var arena_state = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena_state.deinit();
    const arena = arena_state.allocator();
    const vars = [_][*:0]const u8{ "PATH=/bin", "PYTHONHOME=/elsewhere", "BUNDLER_ARGV0=old", "PYTHONPATHX=kept", "BUNDLER_STUB=info", "HOME=/h" };
    const isolated = try forInterpreter(arena, &vars, true);
    try std.testing.expectEqual(@as(usize, 3), isolated.items.len);
    try std.testing.expectEqualStrings("PATH=/bin", std.mem.span(isolated.items[0].?));
    try std.testing.expectEqualStrings("PYTHONPATHX=kept", std.mem.span(isolated.items[1].?));
    try std.testing.expectEqualStrings("HOME=/h", std.mem.span(isolated.items[2].?));
    const open = try forInterpreter(arena, &vars, false);
    try std.testing.expectEqual(@as(usize, 4), open.items.len);
    try std.testing.expectEqualStrings("PYTHONHOME=/elsewhere", std.mem.span(open.items[1].?));
}
