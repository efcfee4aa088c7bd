//! Reading the artifact's own file: the trailer at the end (or, in a signed
//! Windows file, before its certificate table), the manifest before it
//! (docs/FORMAT.md). Every check that fails means the file is damaged or
//! truncated.

const std = @import("std");
const sys = @import("sys.zig").Impl;
const fail = @import("fail.zig");
const entries = @import("entries.zig");

const Sha256 = @import("sha256.zig").Sha256;

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
pub const Job = struct { layer: []const u8, layer_index: usize, index: usize, frame: Frame };

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
    var head: [head_size]u8 = undefined;
    const h = sys.preadAll(fd, &head, 0) catch return fail.damaged("cannot read it: {s}", .{sys.errnoText(sys.errno())});
    if (certificateTable(head[0..h], size)) |table| return readTrailerAt(fd, try trailerEnd(fd, table, max_cert_padding));
    if (machoSignature(head[0..h], size)) |sig| return readTrailerAt(fd, try trailerEnd(fd, sig, max_macho_padding));
    return readTrailerAt(fd, size);
}

/// The 96-byte trailer that ends at file offset *end*.
fn readTrailerAt(fd: sys.Fd, end: u64) fail.Failed!Trailer {
    if (end < trailer_size) return fail.damaged("too small to hold a bundler trailer", .{});
    var raw: [trailer_size]u8 = undefined;
    const n = sys.preadAll(fd, &raw, end - trailer_size) catch return fail.damaged("cannot read it: {s}", .{sys.errnoText(sys.errno())});
    if (n != trailer_size) return fail.damaged("the trailer cannot be read", .{});
    return parseTrailer(&raw, end);
}

/// Where the trailer ends in a signed file: before the signature at *table* (a PE certificate
/// table, a Mach-O code signature), after at most *max_pad* zero bytes of alignment.
fn trailerEnd(fd: sys.Fd, table: u64, max_pad: usize) fail.Failed!u64 {
    var tail: [max_macho_padding + end_magic.len]u8 = undefined;
    const want: usize = @intCast(@min(max_pad + end_magic.len, table));
    const n = sys.preadAll(fd, tail[0..want], table - want) catch return fail.damaged("cannot read it: {s}", .{sys.errnoText(sys.errno())});
    if (n != want) return fail.damaged("the trailer cannot be read", .{});
    const pad = zeroPadding(tail[0..want], max_pad) orelse
        return fail.damaged("no bundler trailer before its signature", .{});
    return table - pad;
}

/// How many bytes the signature checks read from the start of the file: the PE headers, or a
/// Mach-O header with its load commands.
const head_size = 4096;
/// osslsigncode and signtool align the certificate table to 8 bytes with zeros.
const max_cert_padding = 7;
/// bundler aligns a Mach-O code signature to 16 bytes with zeros (bundler.binfmt.macho.codesign).
const max_macho_padding = 15;

/// The file offset of a thin 64-bit Mach-O file's code signature (LC_CODE_SIGNATURE), if *head*
/// (the file's first bytes) holds its header and load commands and the signature ends exactly at
/// *file_size*: then the payload lies inside __LINKEDIT, before it, and the signature covers it
/// (docs/FORMAT.md). Else null: the trailer ends the file.
pub fn machoSignature(head: []const u8, file_size: u64) ?u64 {
    if (head.len < 32 or le(u32, head[0..4]) != 0xfeedfacf) return null;
    const ncmds = le(u32, head[16..20]);
    const end = 32 + @as(u64, le(u32, head[20..24]));
    if (end > head.len) return null;
    var off: usize = 32;
    var i: u32 = 0;
    while (i < ncmds) : (i += 1) {
        if (off + 8 > end) return null;
        const cmd = le(u32, head[off..]);
        const size = le(u32, head[off + 4 ..]);
        if (size < 8 or off + size > end) return null;
        if (cmd == 0x1d) { // LC_CODE_SIGNATURE: {cmd, cmdsize, dataoff, datasize}
            if (size < 16) return null;
            const dataoff: u64 = le(u32, head[off + 8 ..]);
            const datasize: u64 = le(u32, head[off + 12 ..]);
            return if (datasize > 0 and dataoff + datasize == file_size) dataoff else null;
        }
        off += size;
    }
    return null;
}

/// The file offset of a PE image's certificate table (IMAGE_DIRECTORY_ENTRY_SECURITY: an
/// Authenticode signature appended to the file), if *head* (the file's first bytes) is a PE
/// image whose table is non-empty and ends exactly at *file_size*; else null.
pub fn certificateTable(head: []const u8, file_size: u64) ?u64 {
    if (head.len < 0x40 or !std.mem.eql(u8, head[0..2], "MZ")) return null;
    const pe: usize = le(u32, head[0x3c..0x40]);
    const opt = pe + 24; // "PE\0\0" and the 20-byte COFF file header
    if (pe > head.len or head.len - pe < 24 + 2 or !std.mem.eql(u8, head[pe..][0..4], "PE\x00\x00")) return null;
    const dirs: usize = switch (le(u16, head[opt..])) {
        0x10b => 96, // PE32
        0x20b => 112, // PE32+
        else => return null,
    };
    const security = opt + dirs + 4 * 8; // data directory 4: {file offset, size}
    if (head.len < security + 8) return null;
    if (le(u32, head[opt + dirs - 4 ..]) <= 4 or le(u16, head[pe + 20 ..]) < dirs + 5 * 8) return null;
    const start: u64 = le(u32, head[security..]);
    const len: u64 = le(u32, head[security + 4 ..]);
    if (len == 0 or start + len != file_size) return null;
    return start;
}

/// How many zero bytes of padding (at most *max*) end *tail* (the bytes before a signature), given
/// that the trailer's end magic precedes them; null if anything else is there.
pub fn zeroPadding(tail: []const u8, max: usize) ?usize {
    var pad: usize = 0;
    while (pad <= max and pad + end_magic.len <= tail.len) : (pad += 1) {
        const before = tail[0 .. tail.len - pad];
        if (std.mem.endsWith(u8, before, end_magic)) return pad;
        if (tail[tail.len - pad - 1] != 0) return null;
    }
    return null;
}

fn le(comptime T: type, bytes: []const u8) T {
    return std.mem.readInt(T, bytes[0..@sizeOf(T)], .little);
}

/// The trailer in *raw*, which ends at file offset *end* (the file size, or where its certificate table
/// and padding begin).
pub fn parseTrailer(raw: *const [trailer_size]u8, end: u64) fail.Failed!Trailer {
    if (!std.mem.eql(u8, raw[0..8], magic) or !std.mem.eql(u8, raw[88..96], end_magic))
        return fail.damaged("no bundler trailer at the end of the file", .{});
    const version = le(u32, raw[8..12]);
    if (version != format_version)
        return fail.damaged("format version {d}; this program reads version {d}", .{ version, format_version });
    if (le(u32, raw[12..16]) != trailer_size) return fail.damaged("bad trailer size", .{});
    const p_len = le(u64, raw[16..24]);
    const m_len = le(u64, raw[24..32]);
    const room = end - trailer_size;
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
    for (art.manifest.layers, 0..) |layer, l| {
        for (layer.frames, 0..) |wire, i| {
            const frame: Frame = .{ .offset = wire.offset.value, .length = wire.length.value, .uncompressed_size = wire.uncompressed_size.value, .sha256 = wire.sha256 };
            if (frame.offset != next or frame.length == 0 or frame.length > art.trailer.payload_length - next)
                return fail.damaged("frame {d} of layer {s} is outside the payload", .{ i, layer.name });
            if (!isHex64(frame.sha256)) return fail.damaged("bad checksum of frame {d} of layer {s}", .{ i, layer.name });
            if (frame.uncompressed_size > std.math.maxInt(usize) / 2 or frame.uncompressed_size > frame.length *| max_zstd_ratio)
                return fail.damaged("frame {d} of layer {s} claims more bytes than zstd can expand it to", .{ i, layer.name });
            next += frame.length;
            total +|= frame.uncompressed_size;
            try jobs.append(arena, .{ .layer = layer.name, .layer_index = l, .index = i, .frame = frame });
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

/// Whether the payload's SHA-256 is manifest.payload.sha256, and, for the layers marked in
/// *frames_too*, each frame's SHA-256 its manifest digest (a layer linked from another tree is
/// never decompressed, yet its frames are held to the same digests); false if it cannot be read
/// whole (records nothing: the caller decides what a mismatch means next to other failures).
pub fn payloadMatches(art: *const Artifact, gpa: std.mem.Allocator, frames_too: []const bool) bool {
    const chunk = gpa.alloc(u8, 1 << 20) catch return false;
    defer gpa.free(chunk);
    var h = Sha256.init(.{});
    for (art.jobs) |job| {
        const f = job.frame;
        const check_frame = job.layer_index < frames_too.len and frames_too[job.layer_index];
        var fh = Sha256.init(.{});
        var off: u64 = 0;
        while (off < f.length) {
            const want: usize = @intCast(@min(chunk.len, f.length - off));
            const n = sys.preadAll(art.fd, chunk[0..want], art.trailer.payload_offset + f.offset + off) catch return false;
            if (n != want) return false;
            h.update(chunk[0..n]);
            if (check_frame) fh.update(chunk[0..n]);
            off += n;
        }
        if (check_frame and !hexEquals(fh.finalResult(), f.sha256)) return false;
    }
    return hexEquals(h.finalResult(), art.manifest.payload.sha256);
}

pub fn hexEquals(digest: [32]u8, hex: []const u8) bool {
    const mine = std.fmt.bytesToHex(digest, .lower);
    return std.mem.eql(u8, &mine, hex);
}

/// A PE header as a linker writes it: e_lfanew 0x80, the optional header of *opt_magic* with 16
/// data directories, the certificate table at *table* of *len* bytes.
fn testHead(opt_magic: u16, table: u32, len: u32) [512]u8 {
    var h = std.mem.zeroes([512]u8);
    h[0] = 'M';
    h[1] = 'Z';
    std.mem.writeInt(u32, h[0x3c..0x40], 0x80, .little);
    @memcpy(h[0x80..0x84], "PE\x00\x00");
    const dirs: usize = if (opt_magic == 0x10b) 96 else 112;
    std.mem.writeInt(u16, h[0x80 + 20 ..][0..2], @intCast(dirs + 16 * 8), .little);
    std.mem.writeInt(u16, h[0x98..][0..2], opt_magic, .little);
    std.mem.writeInt(u32, h[0x98 + dirs - 4 ..][0..4], 16, .little);
    std.mem.writeInt(u32, h[0x98 + dirs + 32 ..][0..4], table, .little);
    std.mem.writeInt(u32, h[0x98 + dirs + 36 ..][0..4], len, .little);
    return h;
}

test "the certificate table of a signed PE file" {
    const t = std.testing;
    var h = testHead(0x20b, 4096, 1480);
    try t.expectEqual(@as(?u64, 4096), certificateTable(&h, 4096 + 1480));
    try t.expectEqual(@as(?u64, null), certificateTable(&h, 4096 + 1481)); // something after the table
    try t.expectEqual(@as(?u64, null), certificateTable(h[0..0x100], 4096 + 1480)); // header cut short
    h = testHead(0x10b, 4096, 1480);
    try t.expectEqual(@as(?u64, 4096), certificateTable(&h, 4096 + 1480)); // PE32
    h = testHead(0x20b, 0, 0);
    try t.expectEqual(@as(?u64, null), certificateTable(&h, 4096)); // unsigned
    h = testHead(0x107, 4096, 1480);
    try t.expectEqual(@as(?u64, null), certificateTable(&h, 4096 + 1480)); // not a PE optional header
    h = testHead(0x20b, 4096, 1480);
    h[0x80] = 'X';
    try t.expectEqual(@as(?u64, null), certificateTable(&h, 4096 + 1480)); // no PE signature
    h = testHead(0x20b, 4096, 1480);
    std.mem.writeInt(u32, h[0x3c..0x40], 0xffff_fff0, .little);
    try t.expectEqual(@as(?u64, null), certificateTable(&h, 4096 + 1480)); // e_lfanew past the header
    var elf = std.mem.zeroes([64]u8);
    @memcpy(elf[0..4], "\x7fELF");
    try t.expectEqual(@as(?u64, null), certificateTable(&elf, elf.len)); // ELF, Mach-O: never
}

test "zero padding between the trailer and the certificate table" {
    const t = std.testing;
    const m = max_cert_padding;
    try t.expectEqual(@as(?usize, 0), zeroPadding("xxxxxxxBNDLEND\x00", m));
    try t.expectEqual(@as(?usize, 3), zeroPadding("xxxxBNDLEND\x00\x00\x00\x00", m));
    try t.expectEqual(@as(?usize, 7), zeroPadding("BNDLEND\x00\x00\x00\x00\x00\x00\x00\x00", m));
    try t.expectEqual(@as(?usize, null), zeroPadding("BNDLEND\x00\x00\x00\x00\x00\x00\x00\x00\x00", m)); // more than 7
    try t.expectEqual(@as(?usize, 8), zeroPadding("BNDLEND\x00\x00\x00\x00\x00\x00\x00\x00\x00", max_macho_padding));
    try t.expectEqual(@as(?usize, null), zeroPadding("xBNDLEND\x00\x00\x01\x00", m)); // not zeros
    try t.expectEqual(@as(?usize, null), zeroPadding("xxxxxxxxxxxxxxx", m));
    try t.expectEqual(@as(?usize, null), zeroPadding("\x00\x00", m));
}

/// A Mach-O header with two load commands: a 72-byte segment, then LC_CODE_SIGNATURE at
/// *dataoff* of *datasize* bytes.
fn testMacho(dataoff: u32, datasize: u32) [256]u8 {
    var h = std.mem.zeroes([256]u8);
    std.mem.writeInt(u32, h[0..4], 0xfeedfacf, .little);
    std.mem.writeInt(u32, h[16..20], 2, .little); // ncmds
    std.mem.writeInt(u32, h[20..24], 72 + 16, .little); // sizeofcmds
    std.mem.writeInt(u32, h[32..36], 0x19, .little); // LC_SEGMENT_64
    std.mem.writeInt(u32, h[36..40], 72, .little);
    std.mem.writeInt(u32, h[104..108], 0x1d, .little); // LC_CODE_SIGNATURE
    std.mem.writeInt(u32, h[108..112], 16, .little);
    std.mem.writeInt(u32, h[112..116], dataoff, .little);
    std.mem.writeInt(u32, h[116..120], datasize, .little);
    return h;
}

test "the code signature of a Mach-O single file" {
    const t = std.testing;
    var h = testMacho(100_000, 4000);
    try t.expectEqual(@as(?u64, 100_000), machoSignature(&h, 104_000));
    try t.expectEqual(@as(?u64, null), machoSignature(&h, 104_001)); // data after it: the trailer ends the file
    try t.expectEqual(@as(?u64, null), machoSignature(h[0..100], 104_000)); // load commands cut short
    h = testMacho(100_000, 0);
    try t.expectEqual(@as(?u64, null), machoSignature(&h, 100_000)); // an empty signature
    h = testMacho(100_000, 4000);
    std.mem.writeInt(u32, h[36..40], 4, .little); // a load command smaller than its header
    try t.expectEqual(@as(?u64, null), machoSignature(&h, 104_000));
    h = testMacho(100_000, 4000);
    std.mem.writeInt(u32, h[0..4], 0xcafebabe, .big); // universal: never (bundler's stubs are thin)
    try t.expectEqual(@as(?u64, null), machoSignature(&h, 104_000));
    const pe = testHead(0x20b, 4096, 1480);
    try t.expectEqual(@as(?u64, null), machoSignature(&pe, 4096 + 1480));
}

test "the trailer's offsets count back from where it ends" {
    var raw = std.mem.zeroes([trailer_size]u8);
    @memcpy(raw[0..8], magic);
    std.mem.writeInt(u32, raw[8..12], format_version, .little);
    std.mem.writeInt(u32, raw[12..16], trailer_size, .little);
    std.mem.writeInt(u64, raw[16..24], 1000, .little);
    std.mem.writeInt(u64, raw[24..32], 200, .little);
    @memcpy(raw[88..96], end_magic);
    const tr = try parseTrailer(&raw, 5000);
    try std.testing.expectEqual(@as(u64, 5000 - 96 - 200), tr.manifest_offset);
    try std.testing.expectEqual(@as(u64, 5000 - 96 - 200 - 1000), tr.payload_offset);
    try std.testing.expectError(error.Failed, parseTrailer(&raw, 1000));
}
