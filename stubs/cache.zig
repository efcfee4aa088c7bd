//! The cache of unpacked runtimes:
//!
//!     <root>/<app>/<first 16 hex of payload sha256>/      a complete tree
//!     <root>/<app>/<key>/.bundler-complete                 written last, before the rename
//!     <root>/<app>/.tmp-<key>-<pid>-<random>/              a tree being unpacked
//!
//! A tree is unpacked into a private temp directory and renamed into place,
//! so a tree without the marker never appears under its final name; the
//! first process to rename wins and the others use its tree.
//!
//! A run holds a shared lock on its tree's marker for as long as the runtime
//! runs (the descriptor survives execve; on Windows the waiting stub keeps it
//! open). After a first run has unpacked a tree, the app's other trees beyond
//! the newest `BUNDLER_CACHE_KEEP` (default 1: only the new one) are removed,
//! each only if an exclusive lock on its marker can be had: renamed to a temp
//! name first, so no half-removed tree is ever seen as complete.

const std = @import("std");
const builtin = @import("builtin");
const sys = @import("sys.zig").Impl;
const fail = @import("fail.zig");
const artifact = @import("artifact.zig");
const extract = @import("extract.zig");
const layers = @import("layers.zig");
const entries = @import("entries.zig");
const Env = @import("env.zig").Env;

pub const marker = entries.reserved;

/// The app's directory in a usable cache root.
pub const Cache = struct {
    /// Absolute path of the cache root.
    root: []const u8,
    root_fd: sys.Fd,
    /// `<root>/<app>`, opened without following symlinks.
    app_fd: sys.Fd,
};

// ---------------------------------------------------------------- choosing the root

const Candidate = struct { path: []const u8, private: bool };

/// The first usable root: the user's cache dir, then private fallbacks (see
/// `candidates`).
pub fn open(gpa: std.mem.Allocator, env: Env, app: []const u8) (fail.Failed || error{OutOfMemory})!Cache {
    var tried: std.ArrayList(u8) = .empty;
    const uid = sys.effectiveUid();
    const list = try candidates(gpa, env, uid);
    for (list) |maybe| {
        const c = maybe orelse continue;
        if (try tryRoot(gpa, c, app, uid)) |cache| return cache;
        if (tried.items.len > 0) try tried.appendSlice(gpa, ", ");
        try tried.print(gpa, "{s} ({s})", .{ c.path, why });
    }
    return fail.record(.no_cache, "no usable cache directory to unpack {s} into (tried {s}); set BUNDLER_CACHE_DIR to a writable directory.", .{ app, tried.items });
}

/// Where the cache root is looked for, in order:
/// - Linux: $BUNDLER_CACHE_DIR, else $XDG_CACHE_HOME/bundler, else
///   $HOME/.cache/bundler; then a private bundler-<uid> in $TMPDIR and /tmp.
/// - macOS: $BUNDLER_CACHE_DIR, else $HOME/Library/Caches/bundler; then a
///   private bundler-<uid> in $TMPDIR (per-user on macOS) and /tmp.
/// - Windows: %BUNDLER_CACHE_DIR%, else %LOCALAPPDATA%\bundler; then
///   %TEMP%\bundler (per-user on Windows).
fn candidates(gpa: std.mem.Allocator, env: Env, uid: u32) error{OutOfMemory}![4]?Candidate {
    var list: [4]?Candidate = @splat(null);
    switch (builtin.os.tag) {
        .windows => {
            if (env.nonEmpty("BUNDLER_CACHE_DIR")) |d| {
                list[0] = .{ .path = d, .private = false };
            } else if (env.nonEmpty("LOCALAPPDATA")) |d| {
                if (std.fs.path.isAbsoluteWindows(d))
                    list[0] = .{ .path = try std.fmt.allocPrint(gpa, "{s}\\bundler", .{std.mem.trimEnd(u8, d, "\\/")}), .private = false };
            }
            if (env.nonEmpty("TEMP") orelse env.nonEmpty("TMP")) |d| {
                list[1] = .{ .path = try std.fmt.allocPrint(gpa, "{s}\\bundler", .{std.mem.trimEnd(u8, d, "\\/")}), .private = false };
            }
        },
        .macos => {
            if (env.nonEmpty("BUNDLER_CACHE_DIR")) |d| {
                list[0] = .{ .path = d, .private = false };
            } else if (env.nonEmpty("HOME")) |d| {
                if (d[0] == '/') list[0] = .{ .path = try std.fmt.allocPrint(gpa, "{s}/Library/Caches/bundler", .{std.mem.trimEnd(u8, d, "/")}), .private = false };
            }
            try tmpCandidates(gpa, env, uid, &list);
        },
        else => {
            if (env.nonEmpty("BUNDLER_CACHE_DIR")) |d| {
                list[0] = .{ .path = d, .private = false };
            } else if (env.nonEmpty("XDG_CACHE_HOME")) |d| {
                if (d[0] == '/') list[0] = .{ .path = try std.fmt.allocPrint(gpa, "{s}/bundler", .{d}), .private = false };
            }
            if (list[0] == null) if (env.nonEmpty("HOME")) |d| {
                list[0] = .{ .path = try std.fmt.allocPrint(gpa, "{s}/.cache/bundler", .{d}), .private = false };
            };
            try tmpCandidates(gpa, env, uid, &list);
        },
    }
    return list;
}

/// Private bundler-<uid> directories in $TMPDIR and /tmp.
fn tmpCandidates(gpa: std.mem.Allocator, env: Env, uid: u32, list: *[4]?Candidate) error{OutOfMemory}!void {
    if (env.nonEmpty("TMPDIR")) |d| {
        const trimmed = std.mem.trimEnd(u8, d, "/");
        if (!std.mem.eql(u8, trimmed, "/tmp"))
            list[1] = .{ .path = try std.fmt.allocPrint(gpa, "{s}/bundler-{d}", .{ trimmed, uid }), .private = true };
    }
    list[2] = .{ .path = try std.fmt.allocPrint(gpa, "/tmp/bundler-{d}", .{uid}), .private = true };
}

/// Why the last candidate was refused (main thread only).
var why: []const u8 = "";

fn refuse(reason: []const u8) ?Cache {
    why = reason;
    return null;
}

fn refuseErrno() ?Cache {
    return refuse(sys.errnoText(sys.errno()));
}

/// The candidate as a Cache if it is (or can be made) a directory owned by us
/// in which we can create the app's directory.
fn tryRoot(gpa: std.mem.Allocator, c: Candidate, app: []const u8, uid: u32) error{OutOfMemory}!?Cache {
    var z: sys.PathZ = .{};
    const path = z.of(c.path) catch return refuseErrno();
    if (c.private) {
        // In a shared directory: create it ourselves, never through a symlink.
        sys.makeDir(sys.cwd, path, 0o700) catch if (!sys.isExists(sys.errno())) return refuseErrno();
    } else sys.makePath(path, 0o700) catch {}; // errors show when it is opened
    const fd = (if (c.private) sys.openDir(sys.cwd, path) else sys.openDirFollow(path)) catch return refuseErrno();
    var keep = false;
    defer if (!keep) sys.close(fd);
    const st = sys.statFd(fd) catch return refuseErrno();
    if (unsafe(st, uid)) |reason| return refuse(reason);
    const app_fd = openAppDir(fd, app, uid) orelse return null;
    var buf: [sys.max_path]u8 = undefined;
    const abs = try gpa.dupe(u8, sys.pathOfFd(fd, &buf) catch c.path);
    keep = true;
    return .{ .root = abs, .root_fd = fd, .app_fd = app_fd };
}

/// Why a directory of the cache cannot be trusted, or null: another user owns it, or may
/// write into it (a mode like 1777 or 0775), and could plant a "complete" tree whose code
/// would run as the current user.
pub fn unsafe(st: sys.Stat, uid: u32) ?[]const u8 {
    if (st.uid != uid) return "not owned by the current user";
    if (st.mode & 0o022 != 0) return "other users can write to it";
    return null;
}

/// `<root>/<app>`, created or opened without following a symlink, and trusted like the root.
fn openAppDir(root: sys.Fd, app: []const u8, uid: u32) ?sys.Fd {
    var z: sys.PathZ = .{};
    const name = z.of(app) catch return noAppDir(null);
    sys.makeDir(root, name, 0o700) catch if (!sys.isExists(sys.errno())) return noAppDir(null);
    const fd = sys.openDir(root, name) catch return noAppDir(null);
    const st = sys.statFd(fd) catch {
        sys.close(fd);
        return noAppDir(null);
    };
    if (unsafe(st, uid)) |reason| {
        sys.close(fd);
        return noAppDir(reason);
    }
    return fd;
}

// ---------------------------------------------------------------- the tree

/// The absolute path of a complete tree for *art*, unpacking it first if needed; locked as in
/// use for as long as this process (and the program it execs) runs. After unpacking, the app's
/// older trees beyond the newest *keep* go (`collect`).
pub fn tree(gpa: std.mem.Allocator, cache: Cache, art: *const artifact.Artifact, keep: usize) (fail.Failed || error{OutOfMemory})![]const u8 {
    const key = art.key();
    const path = try std.fmt.allocPrint(gpa, "{s}" ++ .{sys.sep} ++ "{s}" ++ .{sys.sep} ++ "{s}", .{ cache.root, art.manifest.app.name, key });
    if (isComplete(cache.app_fd, key) and hold(cache.app_fd, key)) return path;
    fail.context.dest = cache.root;
    errdefer removeAppDirIfEmpty(cache, art.manifest.app.name);
    removeStaleTemps(cache.app_fd);
    // Retried only if a tree without the marker keeps appearing (tampering), or is removed under
    // us, or linking a shared layer failed part way (then everything is unpacked).
    var share = true;
    for (0..4) |_| {
        discardIncomplete(cache.app_fd, key);
        const placed = unpack(gpa, cache, art, share) catch |e| switch (e) {
            error.LinkFailed => {
                share = false;
                continue;
            },
            else => |other| return other,
        };
        if (placed and hold(cache.app_fd, key)) {
            collect(gpa, cache, art.manifest.app.name, key, keep);
            return path;
        }
    }
    return fail.writeFailed(path, .EXIST);
}

/// How many trees of one app a first run leaves (BUNDLER_CACHE_KEEP, default 1: only its own).
pub fn keepFrom(value: ?[]const u8) ?usize {
    const v = value orelse return 1;
    if (v.len == 0) return 1;
    const n = std.fmt.parseInt(usize, v, 10) catch return null;
    return if (n == 0) null else n;
}

/// Marks *key* as in use: a shared lock on its marker, held past execve. False when the tree
/// went away while we waited for the lock (removed by another run's clean-up).
fn hold(app_fd: sys.Fd, key: []const u8) bool {
    var buf: [64]u8 = undefined;
    const rel = std.fmt.bufPrintSentinel(&buf, "{s}/" ++ marker, .{key}, 0) catch return false;
    const fd = sys.openLock(app_fd, rel, true) catch return false;
    // A file system without locks (some network mounts) runs the app unprotected rather than not at all.
    sys.lockShared(fd) catch return true;
    if (isComplete(app_fd, key)) return true; // fd stays open: the lock lasts as long as the runtime
    sys.close(fd);
    return false;
}

/// One tree of the app in the cache.
pub const Tree = struct { name: []const u8, mtime: i128 };

/// The complete trees of *app* under the cache root *root_fd* (names of 16 hex digits), newest
/// first (by their marker's time). The app's directory is opened afresh: a descriptor that was
/// listed before is at its end.
pub fn trees(gpa: std.mem.Allocator, root_fd: sys.Fd, app: []const u8) error{OutOfMemory}![]Tree {
    var list: std.ArrayList(Tree) = .empty;
    var z: sys.PathZ = .{};
    const app_fd = sys.openDir(root_fd, z.of(app) catch return list.items) catch return list.items;
    defer sys.close(app_fd);
    var it: sys.DirIterator = .{ .fd = app_fd };
    while (it.next() catch null) |entry| {
        if (!isKey(entry.name) or !isComplete(app_fd, entry.name)) continue;
        var buf: [64]u8 = undefined;
        const rel = std.fmt.bufPrintSentinel(&buf, "{s}/" ++ marker, .{entry.name}, 0) catch continue;
        const st = sys.sizeAndTime(app_fd, rel) catch continue;
        try list.append(gpa, .{ .name = try gpa.dupe(u8, entry.name), .mtime = st.mtime });
    }
    std.mem.sort(Tree, list.items, {}, struct {
        fn newer(_: void, a: Tree, b: Tree) bool {
            return a.mtime > b.mtime or (a.mtime == b.mtime and std.mem.order(u8, a.name, b.name) == .lt);
        }
    }.newer);
    return list.items;
}

pub fn isKey(name: []const u8) bool {
    if (name.len != 16) return false;
    for (name) |ch| if (!std.ascii.isDigit(ch) and !(ch >= 'a' and ch <= 'f')) return false;
    return true;
}

/// After *current* was unpacked: remove the app's other trees beyond the newest *keep* - 1,
/// except those in use. Best effort: nothing here stops the run.
fn collect(gpa: std.mem.Allocator, cache: Cache, app: []const u8, current: []const u8, keep: usize) void {
    const app_fd = cache.app_fd;
    const all = trees(gpa, cache.root_fd, app) catch return;
    var kept: usize = 1; // current
    var removed = false;
    for (all) |t| {
        if (std.mem.eql(u8, t.name, current)) continue;
        if (kept < keep) {
            kept += 1;
            continue;
        }
        if (removeIfUnused(app_fd, t.name)) removed = true;
    }
    // Only a removal leaves holders without a tree (a tree deleted by hand waits for the next one).
    if (removed) layers.prune(cache.root_fd);
}

/// Removes the tree *name* unless a run holds it: an exclusive lock on its marker, then a rename
/// to a temp name (a tree is never seen half removed), then the removal. Whether it went.
pub fn removeIfUnused(app_fd: sys.Fd, name: []const u8) bool {
    var buf: [64]u8 = undefined;
    const rel = std.fmt.bufPrintSentinel(&buf, "{s}/" ++ marker, .{name}, 0) catch return false;
    var lock: ?sys.Fd = null;
    if (sys.locks_by_descriptor) {
        const fd = sys.openLock(app_fd, rel, false) catch return false;
        lock = fd;
        if (!(sys.tryLockExclusive(fd) catch false)) {
            sys.close(fd);
            return false;
        }
    }
    defer if (lock) |fd| sys.close(fd);
    var name_buf: [64]u8 = undefined;
    const tmp = tempName(&name_buf, name);
    var z: sys.PathZ = .{};
    const from = z.of(name) catch return false;
    sys.renameOnce(app_fd, from, tmp) catch return false; // Windows: a file of it is open, it is in use
    sys.removeTree(app_fd, tmp) catch {}; // what is left is a stale temp, removed by a later run
    return true;
}

/// The bytes of a tree's files (symlinks count as nothing), and of those the bytes of files that
/// have other names too (a layer linked into other trees, layers.zig): removing the tree does
/// not free those.
pub const Size = struct {
    bytes: u64 = 0,
    shared: u64 = 0,

    fn add(self: *Size, other: Size) void {
        self.bytes += other.bytes;
        self.shared += other.shared;
    }
};

pub fn treeSize(dir: sys.Fd, name: [:0]const u8) Size {
    const fd = sys.openDir(dir, name) catch return .{};
    defer sys.close(fd);
    var total: Size = .{};
    var it: sys.DirIterator = .{ .fd = fd };
    while (it.next() catch null) |entry| {
        switch (entry.kind) {
            .dir => total.add(treeSize(fd, entry.name)),
            .symlink => {},
            else => {
                const st = sys.statAt(fd, entry.name, false) catch continue;
                if (st.kind == .dir) {
                    total.add(treeSize(fd, entry.name));
                } else if (st.kind == .file) {
                    const f = sys.sizeAndTime(fd, entry.name) catch continue;
                    total.add(.{ .bytes = f.size, .shared = if (f.links > 1) f.size else 0 });
                }
            },
        }
    }
    return total;
}

/// The cache's app directory if it exists and is trusted, found like `open` but creating nothing
/// (BUNDLER_STUB=info, uninstall). The root is the first candidate that exists and is trusted,
/// else the first one (where a first run would make it).
pub const Found = struct { root: ?[]const u8 = null, root_fd: ?sys.Fd = null, app_fd: ?sys.Fd = null };

pub fn find(gpa: std.mem.Allocator, env: Env, app: []const u8) error{OutOfMemory}!Found {
    const uid = sys.effectiveUid();
    var first: ?[]const u8 = null; // where a first run would make the root
    for (try candidates(gpa, env, uid)) |maybe| {
        const c = maybe orelse continue;
        if (first == null) first = c.path;
        var z: sys.PathZ = .{};
        const path = z.of(c.path) catch continue;
        const fd = (if (c.private) sys.openDir(sys.cwd, path) else sys.openDirFollow(path)) catch continue;
        const st = sys.statFd(fd) catch {
            sys.close(fd);
            continue;
        };
        if (unsafe(st, uid) != null) {
            sys.close(fd);
            continue;
        }
        var buf: [sys.max_path]u8 = undefined;
        const abs = try gpa.dupe(u8, sys.pathOfFd(fd, &buf) catch c.path);
        var az: sys.PathZ = .{};
        const name = az.of(app) catch return .{ .root = abs, .root_fd = fd };
        const app_fd = sys.openDir(fd, name) catch return .{ .root = abs, .root_fd = fd };
        return .{ .root = abs, .root_fd = fd, .app_fd = app_fd };
    }
    return .{ .root = first };
}

/// BUNDLER_STUB=uninstall: every tree of the app that is not in use, and the stale temps.
/// `freed`: the bytes whose last name went (measured before each removal, so a file two removed
/// trees shared counts once).
pub const Removed = struct { trees: usize = 0, bytes: u64 = 0, freed: u64 = 0, in_use: usize = 0 };

pub fn removeAll(gpa: std.mem.Allocator, cache: Cache, app: []const u8) error{OutOfMemory}!Removed {
    var out: Removed = .{};
    removeStaleTemps(cache.app_fd);
    for (try trees(gpa, cache.root_fd, app)) |t| {
        var z: sys.PathZ = .{};
        const name = z.of(t.name) catch continue;
        const size = treeSize(cache.app_fd, name);
        if (removeIfUnused(cache.app_fd, t.name)) {
            out.trees += 1;
            out.bytes += size.bytes;
            out.freed += size.bytes - size.shared;
        } else out.in_use += 1;
    }
    if (out.in_use == 0) removeAppDirIfEmpty(cache, app);
    layers.prune(cache.root_fd);
    return out;
}

fn noAppDir(reason: ?[]const u8) ?sys.Fd {
    _ = if (reason) |r| refuse(r) else refuseErrno();
    return null;
}

/// `<key>` is a directory of ours (never a symlink) holding the marker.
pub fn isComplete(app_fd: sys.Fd, key: []const u8) bool {
    var z: sys.PathZ = .{};
    const name = z.of(key) catch return false;
    const dir = sys.statAt(app_fd, name, false) catch return false;
    if (dir.kind != .dir or unsafe(dir, sys.effectiveUid()) != null) return false;
    var buf: [64]u8 = undefined;
    const rel = std.fmt.bufPrintSentinel(&buf, "{s}/" ++ marker, .{key}, 0) catch return false;
    const st = sys.statAt(app_fd, rel, false) catch return false;
    return st.kind == .file;
}

/// A tree under the final name without the marker should not exist; remove it.
fn discardIncomplete(app_fd: sys.Fd, key: []const u8) void {
    var z: sys.PathZ = .{};
    const name = z.of(key) catch return;
    if (!isComplete(app_fd, key)) sys.removeTree(app_fd, name) catch {};
}

/// Unpacks into a temp directory and renames it into place. True when a
/// complete tree is in place (ours or a concurrent winner's). With *share*, the layers another
/// tree of the cache holds are linked from it, not unpacked (layers.zig), and the new tree is
/// registered as a holder of each of its layers.
fn unpack(gpa: std.mem.Allocator, cache: Cache, art: *const artifact.Artifact, share: bool) (fail.Failed || error{ OutOfMemory, LinkFailed })!bool {
    const key = art.key();
    var name_buf: [64]u8 = undefined;
    const tmp = tempName(&name_buf, key);
    sys.makeDir(cache.app_fd, tmp, 0o700) catch return fail.writeFailed(tmp, sys.errno());
    const fd = sys.openDir(cache.app_fd, tmp) catch return fail.writeFailed(tmp, sys.errno());
    var fd_open = true;
    var keep = false;
    defer {
        if (fd_open) sys.close(fd);
        if (!keep) sys.removeTree(cache.app_fd, tmp) catch {};
    }
    const linked: layers.Linked = if (share) try layers.link(gpa, cache, art, fd) else .{};
    var seen: std.ArrayList(extract.Seen) = .empty;
    try extract.run(gpa, art, .{ .dir = fd }, .{ .linked = linked.layers, .linked_seen = linked.seen, .keep_seen = &seen });
    try writeMarker(fd, art.manifest.payload.sha256);
    // Closed before the rename: Windows renames no directory with a handle open inside it.
    sys.close(fd);
    fd_open = false;
    var z: sys.PathZ = .{};
    const final = z.of(key) catch unreachable;
    sys.rename(cache.app_fd, tmp, final) catch {
        if (!sys.isExists(sys.errno())) return fail.writeFailed(final, sys.errno());
        return isComplete(cache.app_fd, key); // another process won the race
    };
    keep = true;
    layers.register(gpa, cache, art, key, seen.items, linked);
    return true;
}

/// ".tmp-<key>-<pid>-<16 random hex>"
fn tempName(buf: *[64]u8, key: []const u8) [:0]const u8 {
    var rnd: [8]u8 = undefined;
    sys.randomBytes(&rnd);
    return std.fmt.bufPrintSentinel(buf, ".tmp-{s}-{d}-{s}", .{ key, sys.getPid(), &std.fmt.bytesToHex(rnd, .lower) }, 0) catch unreachable;
}

fn writeMarker(dir: sys.Fd, sha256: []const u8) fail.Failed!void {
    const fd = sys.createFile(dir, marker, 0o644) catch {
        if (sys.isExists(sys.errno())) return fail.damaged("the payload contains the reserved name " ++ marker, .{});
        return fail.writeFailed(marker, sys.errno());
    };
    defer sys.close(fd);
    var buf: [80]u8 = undefined;
    const line = std.fmt.bufPrint(&buf, "{s}\n", .{sha256}) catch unreachable;
    sys.writeAll(fd, line) catch return fail.writeFailed(marker, sys.errno());
}

/// Removes `.tmp-<key>-<pid>-<random>` trees whose process is gone (killed
/// while unpacking). Best effort: a failure here never stops the run.
fn removeStaleTemps(app_fd: sys.Fd) void {
    var it: sys.DirIterator = .{ .fd = app_fd };
    const me = sys.getPid();
    while (it.next() catch null) |entry| {
        const pid = tempOwner(entry.name) orelse continue;
        if (pid != me and !sys.pidAlive(pid)) sys.removeTree(app_fd, entry.name) catch {};
    }
}

/// The pid in ".tmp-<16 hex>-<pid>-<hex>", or null if *name* is not a temp tree.
fn tempOwner(name: []const u8) ?i32 {
    const prefix = ".tmp-";
    if (!std.mem.startsWith(u8, name, prefix) or name.len < prefix.len + 17) return null;
    const rest = name[prefix.len + 16 ..];
    if (rest[0] != '-') return null;
    var parts = std.mem.splitScalar(u8, rest[1..], '-');
    const pid = std.fmt.parseInt(i32, parts.next() orelse return null, 10) catch return null;
    _ = parts.next() orelse return null;
    return pid;
}

/// After a failed first run, leave no empty `<root>/<app>` behind (best effort;
/// it fails harmlessly if another tree or process uses it).
fn removeAppDirIfEmpty(cache: Cache, app: []const u8) void {
    var z: sys.PathZ = .{};
    const name = z.of(app) catch return;
    sys.removeEntry(cache.root_fd, name, true) catch {};
}

test "temp names" {
    try std.testing.expectEqual(@as(?i32, 42), tempOwner(".tmp-0123456789abcdef-42-00ff"));
    try std.testing.expectEqual(@as(?i32, null), tempOwner(".tmp-0123456789abcdef-42"));
    try std.testing.expectEqual(@as(?i32, null), tempOwner("0123456789abcdef"));
}
