//! Entries of an uncompressed frame (24-byte header, path, data) and the
//! path rules of docs/FORMAT.md. Pure functions, no I/O.

const std = @import("std");

pub const max_path = 4096;
/// The cache's completion marker (cache.zig): no entry may take this name.
pub const reserved = ".bundler-complete";
pub const header_size = 24;

pub const Kind = enum(u8) { dir = 1, file = 2, symlink = 3 };

pub const Entry = struct {
    kind: Kind,
    /// Permission bits (0o777 mask).
    mode: u32,
    path: []const u8,
    /// File content or symlink target; empty for directories.
    data: []const u8,
};

pub const Invalid = error{
    TruncatedEntry,
    UnknownKind,
    EmptyPath,
    PathTooLong,
    AbsolutePath,
    ForbiddenByte,
    BadComponent,
    NotText,
    BadLinkTarget,
    LinkLeavesRoot,
};

/// Words for a message: "entry 'x': <reason>".
pub fn describe(e: Invalid) []const u8 {
    return switch (e) {
        error.TruncatedEntry => "an entry runs past the end of its frame",
        error.UnknownKind => "an entry has an unknown kind",
        error.EmptyPath => "an entry has an empty path",
        error.PathTooLong => "an entry's path is longer than 4096 bytes",
        error.AbsolutePath => "an entry's path is absolute",
        error.ForbiddenByte => "an entry's path contains NUL or a backslash",
        error.BadComponent => "an entry's path has an empty, '.' or '..' component",
        error.NotText => "an entry's path is not UTF-8 or holds a control character",
        error.BadLinkTarget => "a symlink target is empty, absolute, not UTF-8 or holds a control character",
        error.LinkLeavesRoot => "a symlink points outside the runtime",
    };
}

/// An entry's fixed-size header: what follows it and how long it is.
pub const Header = struct { kind: Kind, mode: u32, path_len: usize, data_len: u64 };

/// The 24-byte header at the front of every entry, checked before its path is read.
pub fn parseHeader(h: *const [header_size]u8) Invalid!Header {
    const kind = std.enums.fromInt(Kind, h[0]) orelse return error.UnknownKind;
    const plen = std.mem.readInt(u32, h[8..12], .little);
    const dlen = std.mem.readInt(u64, h[16..24], .little);
    if (plen == 0) return error.EmptyPath;
    if (plen > max_path) return error.PathTooLong;
    if (kind == .symlink and (dlen == 0 or dlen > max_path)) return error.BadLinkTarget;
    return .{ .kind = kind, .mode = std.mem.readInt(u32, h[4..8], .little) & 0o777, .path_len = plen, .data_len = dlen };
}

/// Walks the entries of one uncompressed frame, validating each.
pub const Iterator = struct {
    buf: []const u8,
    pos: usize = 0,

    pub fn next(it: *Iterator) Invalid!?Entry {
        if (it.pos == it.buf.len) return null;
        const rest = it.buf[it.pos..];
        if (rest.len < header_size) return error.TruncatedEntry;
        const kind = std.enums.fromInt(Kind, rest[0]) orelse return error.UnknownKind;
        const mode = std.mem.readInt(u32, rest[4..8], .little) & 0o777;
        const plen: u64 = std.mem.readInt(u32, rest[8..12], .little);
        const dlen = std.mem.readInt(u64, rest[16..24], .little);
        const body = rest.len - header_size;
        if (plen > body or dlen > body - plen) return error.TruncatedEntry;
        const start = header_size + @as(usize, @intCast(plen));
        const entry: Entry = .{
            .kind = kind,
            .mode = mode,
            .path = rest[header_size..start],
            .data = if (kind == .dir) "" else rest[start..][0..@intCast(dlen)],
        };
        it.pos += start + @as(usize, @intCast(dlen));
        try checkPath(entry.path);
        if (kind == .symlink) try checkLink(entry.path, entry.data);
        return entry;
    }
};

/// Relative, '/'-separated, non-empty, at most 4096 bytes, no NUL or backslash,
/// no empty, '.' or '..' component.
pub fn checkPath(path: []const u8) Invalid!void {
    if (path.len == 0) return error.EmptyPath;
    if (path.len > max_path) return error.PathTooLong;
    if (path[0] == '/') return error.AbsolutePath;
    if (std.mem.indexOfAny(u8, path, "\x00\\") != null) return error.ForbiddenByte;
    if (!std.unicode.utf8ValidateSlice(path)) return error.NotText;
    for (path) |c| if (c < 0x20 or c == 0x7f) return error.NotText;
    var it = std.mem.splitScalar(u8, path, '/');
    while (it.next()) |part| {
        if (part.len == 0 or std.mem.eql(u8, part, ".") or std.mem.eql(u8, part, "..")) return error.BadComponent;
    }
}

/// A symlink target must be relative and, resolved lexically from the link's
/// directory, stay inside the root.
pub fn checkLink(path: []const u8, target: []const u8) Invalid!void {
    if (target.len == 0 or target.len > max_path or target[0] == '/') return error.BadLinkTarget;
    if (std.mem.indexOfScalar(u8, target, 0) != null) return error.BadLinkTarget;
    if (!std.unicode.utf8ValidateSlice(target)) return error.BadLinkTarget;
    for (target) |c| if (c < 0x20 or c == 0x7f) return error.BadLinkTarget;
    // Depth of the link's directory below the root, then walk the target.
    var depth: usize = std.mem.count(u8, path, "/");
    var it = std.mem.splitScalar(u8, target, '/');
    while (it.next()) |part| {
        if (part.len == 0 or std.mem.eql(u8, part, ".")) continue;
        if (std.mem.eql(u8, part, "..")) {
            if (depth == 0) return error.LinkLeavesRoot;
            depth -= 1;
        } else depth += 1;
    }
}

/// The directory part and the last component of a valid path.
pub fn split(path: []const u8) struct { parent: []const u8, name: []const u8 } {
    const slash = std.mem.lastIndexOfScalar(u8, path, '/') orelse return .{ .parent = "", .name = path };
    return .{ .parent = path[0..slash], .name = path[slash + 1 ..] };
}

// ---------------------------------------------------------------- tests (zig test stubs/entries.zig)

const testing = std.testing;

test "paths" {
    try checkPath("a/b.txt");
    try checkPath("naïve file.txt");
    try testing.expectError(error.EmptyPath, checkPath(""));
    try testing.expectError(error.AbsolutePath, checkPath("/etc/passwd"));
    try testing.expectError(error.BadComponent, checkPath("a//b"));
    try testing.expectError(error.BadComponent, checkPath("a/./b"));
    try testing.expectError(error.BadComponent, checkPath("../b"));
    try testing.expectError(error.BadComponent, checkPath("a/"));
    try testing.expectError(error.ForbiddenByte, checkPath("a\\b"));
    try testing.expectError(error.ForbiddenByte, checkPath("a\x00b"));
    try testing.expectError(error.NotText, checkPath("a\x1b[31mb"));
    try testing.expectError(error.NotText, checkPath("a\xffb"));
}

test "links" {
    try checkLink("bin/python3", "python3.11");
    try checkLink("a/b/c", "../x");
    try checkLink("a/b/c", "../../x");
    try checkLink("a/b", "./c/../d");
    try testing.expectError(error.LinkLeavesRoot, checkLink("a/b/c", "../../../x"));
    try testing.expectError(error.LinkLeavesRoot, checkLink("top", ".."));
    try testing.expectError(error.LinkLeavesRoot, checkLink("a/l", "x/../../.."));
    try testing.expectError(error.BadLinkTarget, checkLink("a", "/etc"));
    try testing.expectError(error.BadLinkTarget, checkLink("a", ""));
}

test "iterator" {
    var buf: [64]u8 = @splat(0);
    buf[0] = 2;
    std.mem.writeInt(u32, buf[4..8], 0o100644, .little);
    std.mem.writeInt(u32, buf[8..12], 3, .little);
    std.mem.writeInt(u64, buf[16..24], 2, .little);
    @memcpy(buf[24..29], "a/bhi");
    var it: Iterator = .{ .buf = buf[0..29] };
    const e = (try it.next()).?;
    try testing.expectEqual(Kind.file, e.kind);
    try testing.expectEqual(@as(u32, 0o644), e.mode);
    try testing.expectEqualStrings("a/b", e.path);
    try testing.expectEqualStrings("hi", e.data);
    try testing.expectEqual(@as(?Entry, null), try it.next());
    var short: Iterator = .{ .buf = buf[0..28] };
    try testing.expectError(error.TruncatedEntry, short.next());
}
