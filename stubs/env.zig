//! The caller's environment, as the kernel passed it.

const std = @import("std");

pub const Env = struct {
    vars: []const [*:0]const u8,

    /// The value of *name*, or null if unset. An empty value counts as set.
    pub fn get(self: Env, name: []const u8) ?[]const u8 {
        for (self.vars) |entry| {
            const kv = std.mem.span(entry);
            if (kv.len > name.len and kv[name.len] == '=' and std.mem.startsWith(u8, kv, name))
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

/// The variable name of a "NAME=value" entry.
pub fn nameOf(entry: []const u8) []const u8 {
    const eq = std.mem.indexOfScalar(u8, entry, '=') orelse return entry;
    return entry[0..eq];
}
