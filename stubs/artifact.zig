//! Reading the artifact's own file: the trailer at the end, the manifest
//! before it (docs/FORMAT.md). Every check that fails means the file is
//! damaged or truncated.

const std = @import("std");
const sys = @import("sys.zig").Impl;
const fail = @import("fail.zig");
const entries = @import("entries.zig");

const Sha256 = std.crypto.hash.sha2.Sha256;

pub const format_version = 1;
pub const trailer_size = 96;
const magic = "BUNDLER\x00";
const end_magic = "BNDLEND\x00";
/// The most a zstd frame can expand: a 4-byte RLE block (3-byte header + 1 byte) becomes 128 KiB.
const max_zstd_ratio = (128 << 10) / 4;
/// Far above any real manifest (it lists frames, not files); refuses absurd lengths early.
const max_manifest = 64 << 20;

pub const Trailer = struct {
    payload_offset: u64,
    payload_length: u64,
    manifest_offset: u64,
    manifest_length: u64,
    manifest_sha256: [32]u8,
};

/// The manifest keys the stub uses; unknown keys are ignored.
pub const Manifest = struct {
    app: struct { name: []const u8, version: []const u8 },
    target: []const u8,
    python: struct { executable: []const u8 },
    entry_points: std.json.ArrayHashMap([]const u8) = .{},
    default_entry: ?[]const u8 = null,
    payload: struct { length: Uint, sha256: []const u8 },
    layers: []const Layer,
};

pub const Layer = struct { name: []const u8, frames: []const WireFrame };

/// A frame as the manifest writes it (integers exactly, see `Uint`).
pub const WireFrame = struct { offset: Uint, length: Uint, uncompressed_size: Uint, sha256: []const u8 };

pub const Frame = struct { offset: u64, length: u64, uncompressed_size: u64, sha256: []const u8 };

/// A JSON integer, strictly: a number token of decimal digits. std.json would also take
/// "137" (a string) and 137.0 (a float); the Python reader refuses both, and so does the stub.
pub const Uint = struct {
    value: u64,

    pub fn jsonParse(gpa: std.mem.Allocator, source: anytype, options: std.json.ParseOptions) !Uint {
        const token = try source.nextAllocMax(gpa, .alloc_if_needed, options.max_value_len.?);
        const digits = switch (token) {
            .number => |d| d,
            .allocated_number => |d| d,
            else => return error.UnexpectedToken,
        };
        if (digits.len == 0) return error.InvalidNumber;
        for (digits) |c| if (!std.ascii.isDigit(c)) return error.InvalidNumber;
        const value = std.fmt.parseInt(u64, digits, 10) catch return error.Overflow;
        if (value > std.math.maxInt(i64)) return error.Overflow; // 2^63-1, as the Python reader
        return .{ .value = value };
    }
};

/// One frame and where it came from, for the extraction queue and messages.
pub const Job = struct { layer: []const u8, index: usize, frame: Frame };

pub const Artifact = struct {
    fd: sys.Fd,
    /// Absolute path of the artifact (symlinks resolved).
    path: []const u8,
    trailer: Trailer,
    manifest_raw: []const u8,
    manifest: Manifest,
    jobs: []const Job,
    /// Sum of the frames' uncompressed sizes.
    uncompressed_size: u64,

    /// First 16 hex digits of the payload's SHA-256: the cache directory name.
    pub fn key(self: *const Artifact) []const u8 {
        return self.manifest.payload.sha256[0..16];
    }
};

/// Opens the running program and reads its trailer and manifest (checksum checked).
pub fn openSelf(gpa: std.mem.Allocator) (fail.Failed || error{OutOfMemory})!Artifact {
    var path_buf: [sys.max_path]u8 = undefined;
    if (@hasDecl(sys, "self_exe")) {
        // Linux: /proc/self/exe opens the program even if its path is gone.
        const path = try gpa.dupe(u8, sys.selfPath(&path_buf) catch sys.self_exe);
        return openPath(gpa, path, sys.self_exe);
    }
    const found = sys.selfPath(&path_buf) catch return fail.record(
        .damaged,
        "cannot find its own file ({s}); {s}.",
        .{ sys.errnoText(sys.errno()), sys.self_read_hint },
    );
    const path = try gpa.dupeSentinel(u8, found, 0);
    return openPath(gpa, path, path);
}

/// Opens *file* (named *path* in messages) and reads its trailer and manifest.
pub fn openPath(gpa: std.mem.Allocator, path: []const u8, file: [:0]const u8) (fail.Failed || error{OutOfMemory})!Artifact {
    fail.context.artifact = path;
    const fd = sys.openRead(file) catch return fail.record(
        .damaged,
        "cannot read its own file {s} ({s}); {s}.",
        .{ file, sys.errnoText(sys.errno()), sys.self_read_hint },
    );
    const trailer = try readTrailer(fd);
    const raw = try readManifest(gpa, fd, trailer);
    return .{
        .fd = fd,
        .path = path,
        .trailer = trailer,
        .manifest_raw = raw,
        .manifest = undefined,
        .jobs = &.{},
        .uncompressed_size = 0,
    };
}

fn readTrailer(fd: sys.Fd) fail.Failed!Trailer {
    const size = sys.fileSize(fd) catch return fail.damaged("cannot read it: {s}", .{sys.errnoText(sys.errno())});
    if (size < trailer_size) return fail.damaged("too small to hold a bundler trailer", .{});
    var raw: [trailer_size]u8 = undefined;
    const n = sys.preadAll(fd, &raw, size - trailer_size) catch return fail.damaged("cannot read it: {s}", .{sys.errnoText(sys.errno())});
    if (n != trailer_size) return fail.damaged("the trailer cannot be read", .{});
    return parseTrailer(&raw, size);
}

fn le(comptime T: type, bytes: []const u8) T {
    return std.mem.readInt(T, bytes[0..@sizeOf(T)], .little);
}

pub fn parseTrailer(raw: *const [trailer_size]u8, file_size: u64) fail.Failed!Trailer {
    if (!std.mem.eql(u8, raw[0..8], magic) or !std.mem.eql(u8, raw[88..96], end_magic))
        return fail.damaged("no bundler trailer at the end of the file", .{});
    const version = le(u32, raw[8..12]);
    if (version != format_version)
        return fail.damaged("format version {d}; this program reads version {d}", .{ version, format_version });
    if (le(u32, raw[12..16]) != trailer_size) return fail.damaged("bad trailer size", .{});
    const p_len = le(u64, raw[16..24]);
    const m_len = le(u64, raw[24..32]);
    const room = file_size - trailer_size;
    if (m_len > room or p_len > room - m_len or m_len > max_manifest)
        return fail.damaged("trailer lengths exceed the file size", .{});
    const m_off = room - m_len;
    return .{
        .payload_offset = m_off - p_len,
        .payload_length = p_len,
        .manifest_offset = m_off,
        .manifest_length = m_len,
        .manifest_sha256 = raw[32..64].*,
    };
}

fn readManifest(gpa: std.mem.Allocator, fd: sys.Fd, t: Trailer) (fail.Failed || error{OutOfMemory})![]const u8 {
    const raw = try gpa.alloc(u8, @intCast(t.manifest_length));
    const n = sys.preadAll(fd, raw, t.manifest_offset) catch return fail.damaged("cannot read the manifest: {s}", .{sys.errnoText(sys.errno())});
    if (n != raw.len) return fail.damaged("the manifest is cut short", .{});
    var digest: [32]u8 = undefined;
    Sha256.hash(raw, &digest, .{});
    if (!std.mem.eql(u8, &digest, &t.manifest_sha256)) return fail.damaged("manifest checksum mismatch", .{});
    return raw;
}

/// Parses and checks the manifest; fills `manifest`, `jobs`, `uncompressed_size`.
pub fn parseManifest(art: *Artifact, arena: std.mem.Allocator) (fail.Failed || error{OutOfMemory})!void {
    art.manifest = std.json.parseFromSliceLeaky(Manifest, arena, art.manifest_raw, .{
        .ignore_unknown_fields = true,
        .allocate = .alloc_always,
    }) catch |e| switch (e) {
        error.OutOfMemory => return error.OutOfMemory,
        else => return fail.damaged("the manifest is not valid: {t}", .{e}),
    };
    const m = &art.manifest;
    if (!isName(m.app.name)) return fail.damaged("bad application name in the manifest", .{});
    fail.context.app = m.app.name;
    if (!isText(m.app.version) or !isText(m.target)) return fail.damaged("bad application version or target in the manifest", .{});
    for (m.entry_points.map.keys()) |name| if (!isText(name)) return fail.damaged("bad entry point name in the manifest", .{});
    if (!isHex64(m.payload.sha256)) return fail.damaged("bad payload checksum in the manifest", .{});
    if (m.payload.length.value != art.trailer.payload_length)
        return fail.damaged("the manifest and the trailer disagree on the payload length", .{});
    entries.checkPath(m.python.executable) catch return fail.damaged("bad python.executable in the manifest", .{});
    for (m.entry_points.map.values()) |script|
        entries.checkPath(script) catch return fail.damaged("bad entry point path in the manifest", .{});
    if (m.default_entry) |default| {
        if (m.entry_points.map.get(default) == null) return fail.damaged("the default entry point {s} is not in the manifest", .{default});
    }
    try buildJobs(art, arena);
}

/// Flattens the layers' frames, checking they tile the payload exactly.
fn buildJobs(art: *Artifact, arena: std.mem.Allocator) (fail.Failed || error{OutOfMemory})!void {
    var jobs: std.ArrayList(Job) = .empty;
    var next: u64 = 0;
    var total: u64 = 0;
    for (art.manifest.layers) |layer| {
        for (layer.frames, 0..) |wire, i| {
            const frame: Frame = .{ .offset = wire.offset.value, .length = wire.length.value, .uncompressed_size = wire.uncompressed_size.value, .sha256 = wire.sha256 };
            if (frame.offset != next or frame.length == 0 or frame.length > art.trailer.payload_length - next)
                return fail.damaged("frame {d} of layer {s} is outside the payload", .{ i, layer.name });
            if (!isHex64(frame.sha256)) return fail.damaged("bad checksum of frame {d} of layer {s}", .{ i, layer.name });
            if (frame.uncompressed_size > std.math.maxInt(usize) / 2 or frame.uncompressed_size > frame.length *| max_zstd_ratio)
                return fail.damaged("frame {d} of layer {s} claims more bytes than zstd can expand it to", .{ i, layer.name });
            next += frame.length;
            total +|= frame.uncompressed_size;
            try jobs.append(arena, .{ .layer = layer.name, .index = i, .frame = frame });
        }
    }
    if (next != art.trailer.payload_length) return fail.damaged("the frames do not cover the payload", .{});
    art.jobs = jobs.items;
    art.uncompressed_size = total;
    fail.context.need_bytes = total;
}

/// A single, harmless path component (the app name becomes a directory).
fn isName(s: []const u8) bool {
    if (s.len == 0 or s.len > 255 or s[0] == '.' or !isText(s)) return false;
    for (s) |c| if (c == '/' or c == '\\') return false;
    return true;
}

/// UTF-8 with no control character: safe to print in a message (no terminal escapes).
pub fn isText(s: []const u8) bool {
    if (!std.unicode.utf8ValidateSlice(s)) return false;
    for (s) |c| if (c < 0x20 or c == 0x7f) return false;
    return true;
}

fn isHex64(s: []const u8) bool {
    if (s.len != 64) return false;
    for (s) |c| if (!std.ascii.isDigit(c) and !(c >= 'a' and c <= 'f')) return false;
    return true;
}

/// SHA-256 of all payload bytes, compared with manifest.payload.sha256.
pub fn checkPayloadDigest(art: *const Artifact, gpa: std.mem.Allocator) (fail.Failed || error{OutOfMemory})!void {
    const chunk = try gpa.alloc(u8, 1 << 20);
    defer gpa.free(chunk);
    var h = Sha256.init(.{});
    var off: u64 = 0;
    while (off < art.trailer.payload_length) {
        const want: usize = @intCast(@min(chunk.len, art.trailer.payload_length - off));
        const n = sys.preadAll(art.fd, chunk[0..want], art.trailer.payload_offset + off) catch
            return fail.damaged("cannot read the payload: {s}", .{sys.errnoText(sys.errno())});
        if (n != want) return fail.damaged("the payload is cut short", .{});
        h.update(chunk[0..n]);
        off += n;
    }
    if (!hexEquals(h.finalResult(), art.manifest.payload.sha256)) return fail.damaged("payload checksum mismatch", .{});
}

/// Whether the payload's SHA-256 is manifest.payload.sha256; false if it cannot be read whole
/// (records nothing: the caller decides what a mismatch means next to other failures).
pub fn payloadMatches(art: *const Artifact, gpa: std.mem.Allocator) bool {
    const chunk = gpa.alloc(u8, 1 << 20) catch return false;
    defer gpa.free(chunk);
    var h = Sha256.init(.{});
    var off: u64 = 0;
    while (off < art.trailer.payload_length) {
        const want: usize = @intCast(@min(chunk.len, art.trailer.payload_length - off));
        const n = sys.preadAll(art.fd, chunk[0..want], art.trailer.payload_offset + off) catch return false;
        if (n != want) return false;
        h.update(chunk[0..n]);
        off += n;
    }
    return hexEquals(h.finalResult(), art.manifest.payload.sha256);
}

pub fn hexEquals(digest: [32]u8, hex: []const u8) bool {
    const mine = std.fmt.bytesToHex(digest, .lower);
    return std.mem.eql(u8, &mine, hex);
}
