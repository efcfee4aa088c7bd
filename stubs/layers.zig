//! Layers shared between trees of the cache, so that two apps built on the same runtime (or two
//! versions of one app with the same dependencies) keep one copy of it on disk:
//!
//!     <root>/.layers/<key>/index            the layer's entries (kind, mode, path, link target)
//!     <root>/.layers/<key>/<tree>-<app>     one empty file per complete tree holding the layer
//!
//! `<key>` is the first 32 hex digits of the SHA-256 of the layer's frame digests, each as the
//! manifest writes it followed by "\n": the same frames, the same entries. A first run links
//! each layer that a complete tree of any app already holds (hard links: the same files on
//! disk) instead of unpacking it, and unpacks only the rest. The frames of a linked layer are
//! still read and held to their digests (extract.zig), and its entries join the whole-payload
//! checks, so sharing changes what is written, never what is accepted.
//!
//! The registry is a hint, never trusted for content beyond the index: a holder is used only
//! if its tree is complete, under a shared lock on its marker for as long as the links are made
//! (so no clean-up removes it meanwhile). Anything missing or failing part way falls back to
//! unpacking the whole payload. Removing a tree removes only its names; the files live on in
//! every tree linked to them. `prune` drops holders whose tree is gone, and a layer with none.

const std = @import("std");
const sys = @import("sys.zig").Impl;
const artifact = @import("artifact.zig");
const entries = @import("entries.zig");
const extract = @import("extract.zig");
const cache = @import("cache.zig");
const Sha256 = @import("sha256.zig").Sha256;

pub const dir_name = ".layers";
const index_name = "index";
const index_magic = "bundler-layer 1\n";
const tmp_prefix = ".tmp-index-";

pub const Key = [32]u8;

/// The content address of a layer; null for a layer without frames.
pub fn keyOf(layer: artifact.Layer) ?Key {
    if (layer.frames.len == 0) return null;
    var h = Sha256.init(.{});
    for (layer.frames) |f| {
        h.update(f.sha256);
        h.update("\n");
    }
    const hex = std.fmt.bytesToHex(h.finalResult(), .lower);
    return hex[0..32].*;
}

/// What a first run took from other trees: by layer index, whether the layer is linked, and
/// the linked layers' entries.
pub const Linked = struct {
    layers: []bool = &.{},
    seen: []extract.Seen = &.{},
};

pub const Error = error{ OutOfMemory, LinkFailed };

/// Links into *dest* (a new, empty tree) every layer of *art* that a complete tree of the cache
/// holds. error.LinkFailed: a link failed part way (another file system, a link limit, a holder
/// changed under us); *dest* then holds a partial tree and must be discarded.
pub fn link(gpa: std.mem.Allocator, c: cache.Cache, art: *const artifact.Artifact, dest: sys.Fd) Error!Linked {
    const layers = art.manifest.layers;
    var out: Linked = .{ .layers = try gpa.alloc(bool, layers.len) };
    @memset(out.layers, false);
    if (!sys.has_hard_links) return out;
    const store = openTrusted(c.root_fd, dir_name) orelse return out;
    defer sys.close(store);
    var seen: std.ArrayList(extract.Seen) = .empty;
    const umask = sys.umask();
    for (layers, 0..) |layer, l| {
        const key = keyOf(layer) orelse continue;
        var kz: sys.PathZ = .{};
        const key_fd = openTrusted(store, kz.of(&key) catch continue) orelse continue;
        defer sys.close(key_fd);
        const list = (try readIndex(gpa, key_fd, l)) orelse continue;
        if (!sys.has_symlinks) if (hasSymlink(list)) continue; // a copy per tree, not a link (extract.zig)
        if (try linkFromHolder(c, key_fd, list, dest, umask)) {
            out.layers[l] = true;
            try seen.appendSlice(gpa, list);
        }
    }
    out.seen = seen.items;
    return out;
}

/// Links *list* from the first holder of the layer whose tree is complete; false if none is.
fn linkFromHolder(c: cache.Cache, key_fd: sys.Fd, list: []const extract.Seen, dest: sys.Fd, umask: u32) error{LinkFailed}!bool {
    var it: sys.DirIterator = .{ .fd = key_fd };
    while (it.next() catch null) |entry| {
        const h = parseHolder(entry.name) orelse continue;
        var az: sys.PathZ = .{};
        // The holder's app directory is trusted like the cache's own (ours, not writable by
        // others), as `cache.open` trusts the running app's: another user could swap its tree.
        const app_fd = openTrusted(c.root_fd, az.of(h.app) catch continue) orelse continue;
        defer sys.close(app_fd);
        var buf: [64]u8 = undefined;
        const marker_rel = std.fmt.bufPrintSentinel(&buf, "{s}/" ++ cache.marker, .{h.tree}, 0) catch continue;
        // Held while linking: a clean-up needs an exclusive lock (Windows: to rename the tree).
        const lock = sys.openLock(app_fd, marker_rel, false) catch continue;
        defer sys.close(lock);
        sys.lockShared(lock) catch {};
        if (!cache.isComplete(app_fd, h.tree)) continue;
        var tz: sys.PathZ = .{};
        const tree_fd = sys.openDir(app_fd, tz.of(h.tree) catch continue) catch continue;
        defer sys.close(tree_fd);
        try linkAll(tree_fd, dest, list, umask);
        return true;
    }
    return false;
}

const Holder = struct { tree: []const u8, app: []const u8 };

/// "<16 hex of a tree>-<app>"; null for the index and temp files.
fn parseHolder(name: []const u8) ?Holder {
    if (name.len < 18 or name[16] != '-' or !cache.isKey(name[0..16])) return null;
    const app = name[17..];
    if (app[0] == '.' or std.mem.indexOfAny(u8, app, "/\\") != null) return null;
    return .{ .tree = name[0..16], .app = app };
}

/// Every entry of *list* (sorted by path: a directory before what it holds) made in *to* as in
/// *from*: directories created, files hard-linked, symlinks made again.
fn linkAll(from: sys.Fd, to: sys.Fd, list: []const extract.Seen, umask: u32) error{LinkFailed}!void {
    var src: Dirs = .{ .root = from, .create = false };
    defer src.deinit();
    var dst: Dirs = .{ .root = to, .create = true };
    defer dst.deinit();
    for (list) |e| {
        const where = entries.split(e.path);
        const to_dir = dst.open(where.parent) orelse return error.LinkFailed;
        var nz: sys.PathZ = .{};
        const name = nz.of(where.name) catch return error.LinkFailed;
        switch (e.kind) {
            .dir => {
                const mode = (e.mode & ~umask) | 0o700;
                sys.makeDir(to_dir, name, mode) catch if (!sys.isExists(sys.errno())) return error.LinkFailed;
                if (umask & 0o700 != 0) {
                    const fd = sys.openDir(to_dir, name) catch return error.LinkFailed;
                    defer sys.close(fd);
                    sys.setMode(fd, mode) catch return error.LinkFailed;
                }
            },
            .file => {
                const from_dir = src.open(where.parent) orelse return error.LinkFailed;
                sys.hardLink(from_dir, name, to_dir, name) catch return error.LinkFailed;
            },
            .symlink => {
                if (!sys.has_symlinks) return error.LinkFailed; // `link` shares no such layer there
                var tz: sys.PathZ = .{};
                sys.symlink(tz.of(e.target) catch return error.LinkFailed, to_dir, name) catch return error.LinkFailed;
            },
        }
    }
}

/// Directories of a tree by relative path, opened component by component without following a
/// symlink (created 0755 when missing if *create*); the last one stays open.
const Dirs = struct {
    root: sys.Fd,
    create: bool,
    path: [entries.max_path]u8 = undefined,
    len: usize = 0,
    fd: ?sys.Fd = null,

    fn deinit(self: *Dirs) void {
        if (self.fd) |fd| sys.close(fd);
        self.fd = null;
    }

    fn open(self: *Dirs, parent: []const u8) ?sys.Fd {
        if (parent.len == 0) return self.root;
        if (self.fd) |fd| if (std.mem.eql(u8, self.path[0..self.len], parent)) return fd;
        self.deinit();
        var cur = self.root;
        var it = std.mem.splitScalar(u8, parent, '/');
        while (it.next()) |part| {
            var z: sys.PathZ = .{};
            const name = z.of(part) catch return self.fail(cur);
            const next = sys.openDir(cur, name) catch blk: {
                if (!self.create or !sys.isNotFound(sys.errno())) return self.fail(cur);
                sys.makeDir(cur, name, 0o755) catch if (!sys.isExists(sys.errno())) return self.fail(cur);
                break :blk sys.openDir(cur, name) catch return self.fail(cur);
            };
            if (cur != self.root) sys.close(cur);
            cur = next;
        }
        @memcpy(self.path[0..parent.len], parent);
        self.len = parent.len;
        self.fd = cur;
        return cur;
    }

    fn fail(self: *Dirs, cur: sys.Fd) ?sys.Fd {
        if (cur != self.root) sys.close(cur);
        return null;
    }
};

fn hasSymlink(list: []const extract.Seen) bool {
    for (list) |e| if (e.kind == .symlink) return true;
    return false;
}

// ---------------------------------------------------------------- the index

/// The entries of the layer from its index (layer number *layer*), sorted by path; null when
/// there is no index or it does not read as one (then the layer is unpacked).
fn readIndex(gpa: std.mem.Allocator, key_fd: sys.Fd, layer: usize) error{OutOfMemory}!?[]extract.Seen {
    const fd = sys.openReadAt(key_fd, index_name) catch return null;
    defer sys.close(fd);
    const size = sys.fileSize(fd) catch return null;
    if (size > 64 << 20) return null;
    const buf = try gpa.alloc(u8, @intCast(size));
    const got = sys.preadAll(fd, buf, 0) catch return null;
    if (got != buf.len) return null;
    return parseIndex(gpa, buf, layer);
}

/// "bundler-layer 1\n", then per entry "<d|f|l>\t<octal mode>\t<path>[\t<target>]\n", sorted by
/// path. Every path and target is checked again by the payload's rules.
pub fn parseIndex(gpa: std.mem.Allocator, text: []const u8, layer: usize) error{OutOfMemory}!?[]extract.Seen {
    if (!std.mem.startsWith(u8, text, index_magic)) return null;
    var list: std.ArrayList(extract.Seen) = .empty;
    const body = text[index_magic.len..];
    if (body.len == 0) return list.items;
    if (body[body.len - 1] != '\n') return null;
    var lines = std.mem.splitScalar(u8, body[0 .. body.len - 1], '\n');
    var previous: []const u8 = "";
    while (lines.next()) |line| {
        if (line.len == 0) return null;
        var fields = std.mem.splitScalar(u8, line, '\t');
        const kind_text = fields.next() orelse return null;
        const mode = std.fmt.parseInt(u32, fields.next() orelse return null, 8) catch return null;
        const path = fields.next() orelse return null;
        const target = fields.next() orelse "";
        if (fields.next() != null or kind_text.len != 1 or mode > 0o777) return null;
        const kind: entries.Kind = switch (kind_text[0]) {
            'd' => .dir,
            'f' => .file,
            'l' => .symlink,
            else => return null,
        };
        entries.checkPath(path) catch return null;
        if (std.mem.order(u8, previous, path) != .lt) return null;
        if (kind == .symlink) entries.checkLink(path, target) catch return null else if (target.len != 0) return null;
        if (std.mem.eql(u8, path, entries.reserved)) return null;
        previous = path;
        try list.append(gpa, .{ .path = path, .kind = kind, .target = target, .mode = mode, .layer = layer });
    }
    return list.items;
}

/// The index text of *list* (one layer's entries, any order).
pub fn formatIndex(gpa: std.mem.Allocator, list: []extract.Seen) error{OutOfMemory}![]u8 {
    std.mem.sort(extract.Seen, list, {}, byPath);
    var out: std.ArrayList(u8) = .empty;
    try out.appendSlice(gpa, index_magic);
    for (list) |e| {
        const k: u8 = switch (e.kind) {
            .dir => 'd',
            .file => 'f',
            .symlink => 'l',
        };
        try out.print(gpa, "{c}\t{o}\t{s}", .{ k, e.mode & 0o777, e.path });
        if (e.kind == .symlink) try out.print(gpa, "\t{s}", .{e.target});
        try out.append(gpa, '\n');
    }
    return out.items;
}

fn byPath(_: void, a: extract.Seen, b: extract.Seen) bool {
    return std.mem.order(u8, a.path, b.path) == .lt;
}

// ---------------------------------------------------------------- registering and pruning

/// After the tree *tree* of *art* is in place: each of its layers names it as a holder, and a
/// layer it unpacked gets its index (from *unpacked*, the entries extraction saw). Best effort:
/// a failure here only means a later first run unpacks that layer itself.
pub fn register(gpa: std.mem.Allocator, c: cache.Cache, art: *const artifact.Artifact, tree: []const u8, unpacked: []extract.Seen, linked: Linked) void {
    if (!sys.has_hard_links) return;
    const app = art.manifest.app.name;
    var holder_buf: [300]u8 = undefined;
    const holder = std.fmt.bufPrintSentinel(&holder_buf, "{s}-{s}", .{ tree, app }, 0) catch return;
    if (holder.len > 255) return; // past a file name's length: this tree shares nothing
    sys.makeDir(c.root_fd, dir_name, 0o700) catch if (!sys.isExists(sys.errno())) return;
    const store = openTrusted(c.root_fd, dir_name) orelse return;
    defer sys.close(store);
    std.mem.sort(extract.Seen, unpacked, {}, byLayer);
    for (art.manifest.layers, 0..) |layer, l| {
        const key = keyOf(layer) orelse continue;
        var kz: sys.PathZ = .{};
        const key_name = kz.of(&key) catch continue;
        const is_linked = l < linked.layers.len and linked.layers[l];
        const mine = ofLayer(unpacked, l);
        if (!is_linked and !sys.has_symlinks and hasSymlink(mine)) continue;
        sys.makeDir(store, key_name, 0o700) catch if (!sys.isExists(sys.errno())) continue;
        const key_fd = openTrusted(store, key_name) orelse continue;
        defer sys.close(key_fd);
        if (!is_linked) writeIndex(gpa, key_fd, mine) catch continue;
        const fd = sys.createFile(key_fd, holder, 0o600) catch continue;
        sys.close(fd);
    }
}

fn byLayer(_: void, a: extract.Seen, b: extract.Seen) bool {
    return a.layer < b.layer;
}

/// The entries of layer *l* in *all*, sorted by layer.
fn ofLayer(all: []extract.Seen, l: usize) []extract.Seen {
    var start: usize = 0;
    while (start < all.len and all[start].layer < l) start += 1;
    var end = start;
    while (end < all.len and all[end].layer == l) end += 1;
    return all[start..end];
}

/// Writes the index unless one is there: a temp file renamed into place, so a reader sees a
/// whole index or none.
fn writeIndex(gpa: std.mem.Allocator, key_fd: sys.Fd, list: []extract.Seen) error{ OutOfMemory, Failed }!void {
    if (sys.statAt(key_fd, index_name, false)) |_| return else |_| {}
    const text = try formatIndex(gpa, list);
    var rnd: [8]u8 = undefined;
    sys.randomBytes(&rnd);
    var buf: [64]u8 = undefined;
    const tmp = std.fmt.bufPrintSentinel(&buf, tmp_prefix ++ "{d}-{s}", .{ sys.getPid(), &std.fmt.bytesToHex(rnd, .lower) }, 0) catch unreachable;
    const fd = sys.createFile(key_fd, tmp, 0o600) catch return error.Failed;
    const written = if (sys.writeAll(fd, text)) true else |_| false;
    sys.close(fd);
    if (!written) {
        sys.removeEntry(key_fd, tmp, false) catch {};
        return error.Failed;
    }
    sys.rename(key_fd, tmp, index_name) catch {
        sys.removeEntry(key_fd, tmp, false) catch {}; // Windows: another process wrote it first
    };
}

/// Drops every holder whose tree is no longer complete, temp files of dead processes, and each
/// layer left without a holder. Best effort.
pub fn prune(root_fd: sys.Fd) void {
    const store = openTrusted(root_fd, dir_name) orelse return;
    defer sys.close(store);
    var it: sys.DirIterator = .{ .fd = store };
    while (it.next() catch null) |entry| {
        if (entry.name.len != 32) continue;
        const key_fd = openTrusted(store, entry.name) orelse continue;
        const live = pruneLayer(root_fd, key_fd);
        sys.close(key_fd);
        if (live > 0) continue;
        var buf: [64]u8 = undefined;
        const index = std.fmt.bufPrintSentinel(&buf, "{s}/" ++ index_name, .{entry.name}, 0) catch continue;
        sys.removeEntry(store, index, false) catch {};
        sys.removeEntry(store, entry.name, true) catch {}; // not empty: a holder came meanwhile
    }
    sys.removeEntry(root_fd, dir_name, true) catch {}; // only if no layer is left
}

/// The layer's holders whose tree is complete; the others are removed.
fn pruneLayer(root_fd: sys.Fd, key_fd: sys.Fd) usize {
    var live: usize = 0;
    var it: sys.DirIterator = .{ .fd = key_fd };
    while (it.next() catch null) |entry| {
        if (std.mem.startsWith(u8, entry.name, tmp_prefix)) {
            const rest = entry.name[tmp_prefix.len..];
            const pid = std.fmt.parseInt(i32, rest[0 .. std.mem.indexOfScalar(u8, rest, '-') orelse continue], 10) catch continue;
            if (pid != sys.getPid() and !sys.pidAlive(pid)) sys.removeEntry(key_fd, entry.name, false) catch {};
            continue;
        }
        const h = parseHolder(entry.name) orelse continue;
        if (treeComplete(root_fd, h)) {
            live += 1;
        } else sys.removeEntry(key_fd, entry.name, false) catch {};
    }
    return live;
}

fn treeComplete(root_fd: sys.Fd, h: Holder) bool {
    var az: sys.PathZ = .{};
    const app_fd = openTrusted(root_fd, az.of(h.app) catch return false) orelse return false;
    defer sys.close(app_fd);
    return cache.isComplete(app_fd, h.tree);
}

/// How many complete trees hold the layer *key* (BUNDLER_STUB=info).
pub fn holders(root_fd: sys.Fd, key: *const Key) usize {
    const store = openTrusted(root_fd, dir_name) orelse return 0;
    defer sys.close(store);
    var kz: sys.PathZ = .{};
    const key_fd = openTrusted(store, kz.of(key) catch return 0) orelse return 0;
    defer sys.close(key_fd);
    var n: usize = 0;
    var it: sys.DirIterator = .{ .fd = key_fd };
    while (it.next() catch null) |entry| {
        const h = parseHolder(entry.name) orelse continue;
        if (treeComplete(root_fd, h)) n += 1;
    }
    return n;
}

/// A directory of the registry, opened without following a symlink and trusted like the cache's
/// own directories (ours, not writable by others); null otherwise.
fn openTrusted(dir: sys.Fd, name: [:0]const u8) ?sys.Fd {
    const fd = sys.openDir(dir, name) catch return null;
    const st = sys.statFd(fd) catch {
        sys.close(fd);
        return null;
    };
    if (cache.unsafe(st, sys.effectiveUid()) != null) {
        sys.close(fd);
        return null;
    }
    return fd;
}

test "layer keys follow the frame digests" {
    const a = [_]artifact.WireFrame{.{ .offset = .{ .value = 0 }, .length = .{ .value = 1 }, .uncompressed_size = .{ .value = 1 }, .sha256 = "abababababababababababababababababababababababababababababababab" }};
    const k1 = keyOf(.{ .name = "runtime", .frames = &a }).?;
    const k2 = keyOf(.{ .name = "other", .frames = &a }).?;
    try std.testing.expectEqualStrings(&k1, &k2); // content, not name
    try std.testing.expectEqual(@as(?Key, null), keyOf(.{ .name = "empty", .frames = &.{} }));
}

test "index round trip and strictness" {
    var arena = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena.deinit();
    const gpa = arena.allocator();
    var list = [_]extract.Seen{
        .{ .path = "lib/x.py", .kind = .file, .target = "", .mode = 0o644 },
        .{ .path = "bin/python3", .kind = .symlink, .target = "python3.11", .mode = 0o777 },
        .{ .path = "lib", .kind = .dir, .target = "", .mode = 0o755 },
        .{ .path = "my file", .kind = .file, .target = "", .mode = 0o755 },
    };
    const text = try formatIndex(gpa, &list);
    try std.testing.expectEqualStrings("bundler-layer 1\nl\t777\tbin/python3\tpython3.11\nd\t755\tlib\nf\t644\tlib/x.py\nf\t755\tmy file\n", text);
    const back = (try parseIndex(gpa, text, 2)).?;
    try std.testing.expectEqual(@as(usize, 4), back.len);
    try std.testing.expectEqualStrings("python3.11", back[0].target);
    try std.testing.expectEqual(@as(usize, 2), back[3].layer);
    const bad = [_][]const u8{
        "bundler-layer 2\n",
        "bundler-layer 1\nf\t644\t../x\n",
        "bundler-layer 1\nf\t644\tb\nf\t644\ta\n", // not sorted
        "bundler-layer 1\nl\t777\tx\t/etc/passwd\n",
        "bundler-layer 1\nf\t644\t.bundler-complete\n",
        "bundler-layer 1\nf\t644\tx",
    };
    for (bad) |b| try std.testing.expectEqual(@as(?[]extract.Seen, null), try parseIndex(gpa, b, 0));
    try std.testing.expect(parseHolder("0123456789abcdef-hello") != null);
    try std.testing.expect(parseHolder("index") == null);
    try std.testing.expect(parseHolder("0123456789abcdef-.x") == null);
}
