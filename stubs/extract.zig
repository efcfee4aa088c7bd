//! Unpacking the payload: every frame is read, its SHA-256 checked, then it is
//! decompressed by libzstd and its entries validated and (unless verifying)
//! created under a root directory. Frames are independent, so up to
//! min(CPUs, frames, 8) threads take them from a shared queue, largest first.
//!
//! A thread that fails records the failure (fail.zig) and stops; the others
//! stop at their next frame. The caller removes the half-written tree.
//!
//! Where the OS layer has no symlinks (Windows: they need a privilege), a
//! symlink entry becomes a copy of its target, made after every frame is
//! written (`copyLinks`).

const std = @import("std");
const sys = @import("sys.zig").Impl;
const fail = @import("fail.zig");
const artifact = @import("artifact.zig");
const entries = @import("entries.zig");
const zstd = @import("zstd.zig");

const Sha256 = @import("sha256.zig").Sha256;
const max_threads = 8;

pub const Target = union(enum) {
    /// Check everything, write nothing.
    verify,
    /// Create the entries under this directory (an open fd).
    dir: sys.Fd,
};

/// What a first run that shares layers (layers.zig) adds to a plain extraction.
pub const Options = struct {
    /// By layer index: layers already in the target, linked from another tree. Their frames are
    /// not unpacked, only their digests checked.
    linked: []const bool = &.{},
    /// The entries of the linked layers, checked with the others as one payload.
    linked_seen: []const Seen = &.{},
    /// Receives every entry unpacked (owned by the caller's allocator afterwards).
    keep_seen: ?*std.ArrayList(Seen) = null,
};

const Shared = struct {
    art: *const artifact.Artifact,
    target: Target,
    linked: []const bool,
    /// Indices into art.jobs, largest frame first: the threads take them in this order, so
    /// the big frames start at once and the small ones fill in (the CPUs finish together).
    order: []const usize,
    next: std.atomic.Value(usize) = .init(0),
    umask: u32,
};

fn largerFirst(jobs: []const artifact.Job, a: usize, b: usize) bool {
    const sa = jobs[a].frame.uncompressed_size;
    const sb = jobs[b].frame.uncompressed_size;
    return sa > sb or (sa == sb and a < b);
}

/// Unpacks (or verifies) every frame of *art*; failures are recorded in fail.zig.
pub fn run(gpa: std.mem.Allocator, art: *const artifact.Artifact, target: Target, opts: Options) fail.Failed!void {
    // A tree that cannot fit is refused before anything is written (the sizes are the manifest's,
    // already bounded by what zstd can expand; a frame that lies about its size fails later).
    var need: u64 = 0;
    for (art.jobs) |job| if (!isLinked(opts.linked, job.layer_index)) {
        need +|= job.frame.uncompressed_size;
    };
    if (target == .dir) if (sys.freeBytes(target.dir)) |free| if (free < need) return fail.noSpace();
    const order = gpa.alloc(usize, art.jobs.len) catch return fail.outOfMemory();
    defer gpa.free(order);
    for (order, 0..) |*o, i| o.* = i;
    std.sort.insertion(usize, order, art.jobs, largerFirst); // a few dozen frames: the smallest code
    var shared: Shared = .{ .art = art, .target = target, .linked = opts.linked, .order = order, .umask = sys.umask() };
    const n = @max(1, @min(sys.cpuCount(), art.jobs.len, max_threads));
    var workers: [max_threads]Worker = undefined;
    var threads: [max_threads]?std.Thread = @splat(null);
    for (workers[0..n]) |*w| w.* = .{ .shared = &shared, .gpa = gpa };
    // The main thread is worker 0; extra threads are a speed-up, not a requirement.
    for (1..n) |i| {
        threads[i] = std.Thread.spawn(.{ .stack_size = 1 << 20 }, Worker.loop, .{&workers[i]}) catch null;
    }
    // The payload's digest names the cache tree: it is computed while the frames are unpacked
    // (one sequential read beside the workers), so a tree is never published under a name
    // its bytes do not have. verify checked it before. Its verdict counts only after the
    // workers': a damaged frame is reported as that frame, whichever thread finished first.
    var digest: DigestCheck = .{ .art = art, .gpa = gpa, .frames_too = opts.linked };
    var digest_thread: ?std.Thread = null;
    if (target == .dir) digest_thread = std.Thread.spawn(.{ .stack_size = 1 << 20 }, DigestCheck.run, .{&digest}) catch null;
    workers[0].loop();
    for (threads[1..n]) |t| if (t) |thread| thread.join();
    if (digest_thread) |t| t.join() else if (target == .dir and !fail.failed()) digest.run();
    defer for (workers[0..n]) |*w| w.deinit();
    if (target == .dir and !fail.failed() and !digest.matches) return fail.damaged("payload checksum mismatch", .{});
    // One validation for every mode, before anything is published or run.
    if (!fail.failed()) try checkPaths(gpa, workers[0..n], opts.linked_seen);
    if (!sys.has_symlinks and !fail.failed() and target == .dir) try copyLinks(gpa, target.dir, workers[0..n]);
    if (fail.failed()) return error.Failed;
    if (opts.keep_seen) |out| for (workers[0..n]) |*w| {
        out.appendSlice(gpa, w.seen.items) catch return fail.outOfMemory();
        w.seen.clearRetainingCapacity(); // owned by *out* now
    };
}

fn isLinked(linked: []const bool, layer: usize) bool {
    return layer < linked.len and linked[layer];
}

const DigestCheck = struct {
    art: *const artifact.Artifact,
    gpa: std.mem.Allocator,
    frames_too: []const bool,
    matches: bool = false,

    fn run(self: *DigestCheck) void {
        self.matches = artifact.payloadMatches(self.art, self.gpa, self.frames_too);
    }
};

/// An entry of the payload: path, kind and symlink target (owned copies), mode, and the index
/// of its layer in the manifest.
pub const Seen = struct { path: []const u8, kind: entries.Kind, target: []const u8, mode: u32 = 0, layer: usize = 0 };
const Paths = std.StringHashMapUnmanaged(Seen);

/// The payload as a whole, in every mode: each path appears once, nothing lies
/// under a file or symlink, no entry takes the cache's reserved name, and no
/// symlink target goes up with ".." after passing through another symlink (FORMAT.md).
/// Extraction also gets the first two from the filesystem (O_EXCL, O_NOFOLLOW);
/// this makes run, extract and verify refuse the same artifacts.
fn checkPaths(gpa: std.mem.Allocator, workers: []const Worker, linked: []const Seen) fail.Failed!void {
    var paths: Paths = .empty;
    defer paths.deinit(gpa);
    for (workers) |*w| try addPaths(gpa, &paths, w.seen.items);
    try addPaths(gpa, &paths, linked);
    try checkParents(&paths);
    var it = paths.valueIterator();
    while (it.next()) |s| if (s.kind == .symlink) try checkLinkChain(&paths, s.path, s.target);
}

fn addPaths(gpa: std.mem.Allocator, paths: *Paths, seen: []const Seen) fail.Failed!void {
    for (seen) |s| {
        if (std.mem.eql(u8, s.path, entries.reserved)) return fail.damaged("the payload contains the reserved name {s}", .{s.path});
        const gop = paths.getOrPut(gpa, s.path) catch return fail.outOfMemory();
        if (gop.found_existing) return fail.damaged("{s} appears twice in the payload", .{s.path});
        gop.value_ptr.* = s;
    }
}

/// Nothing lies under a file or a symlink of the payload.
fn checkParents(paths: *const Paths) fail.Failed!void {
    var it = paths.keyIterator();
    while (it.next()) |path| {
        var end: usize = 0;
        while (std.mem.indexOfScalarPos(u8, path.*, end, '/')) |slash| : (end = slash + 1) {
            const parent = paths.get(path.*[0..slash]) orelse continue;
            if (parent.kind != .dir) return fail.damaged("{s} lies under a file or a symlink of the payload", .{path.*});
        }
    }
}

/// A symlink's target, walked lexically from the link's directory, may go
/// through other symlinks (each one is checked itself) but never up with ".."
/// after one: from there ".." is resolved from wherever that link points, not
/// lexically (`d/up -> ../..` + `esc -> d/up/../..` is inside by its text and
/// outside for real).
fn checkLinkChain(paths: *const Paths, path: []const u8, target: []const u8) fail.Failed!void {
    var buf: [2 * entries.max_path + 2]u8 = undefined;
    const parent = entries.split(path).parent;
    @memcpy(buf[0..parent.len], parent);
    var len = parent.len;
    var through: ?[]const u8 = null; // the first symlink the walk went through
    var parts = std.mem.splitScalar(u8, target, '/');
    while (parts.next()) |part| {
        if (part.len == 0 or std.mem.eql(u8, part, ".")) continue;
        if (std.mem.eql(u8, part, "..")) {
            if (through) |link| return fail.damaged("the symlink {s} goes up ('..') after the symlink {s}", .{ path, link });
            len = std.mem.lastIndexOfScalar(u8, buf[0..len], '/') orelse 0; // checkLink kept it inside
            continue;
        }
        if (len > 0) {
            buf[len] = '/';
            len += 1;
        }
        @memcpy(buf[len..][0..part.len], part);
        len += part.len;
        if (through == null) if (paths.get(buf[0..len])) |seen| if (seen.kind == .symlink) {
            through = seen.path;
        };
    }
}

const Worker = struct {
    shared: *Shared,
    gpa: std.mem.Allocator,
    decoder: ?zstd.Decoder = null,
    compressed: []u8 = &.{},
    plain: []u8 = &.{},
    parents: ?Parents = null,
    /// Every entry seen (owned copies of path and link target), checked as a whole at the end.
    seen: std.ArrayList(Seen) = .empty,
    /// Without OS symlinks: the symlink entries (owned copies), copied at the end.
    links: std.ArrayList(Link) = .empty,

    fn loop(self: *Worker) void {
        const jobs = self.shared.art.jobs;
        while (!fail.failed()) {
            const k = self.shared.next.fetchAdd(1, .monotonic);
            if (k >= jobs.len) break;
            const i = self.shared.order[k];
            if (isLinked(self.shared.linked, jobs[i].layer_index)) continue;
            self.frame(&jobs[i]) catch return;
        }
    }

    fn deinit(self: *Worker) void {
        if (self.decoder) |d| d.deinit();
        if (self.parents) |*p| p.deinit();
        self.gpa.free(self.compressed);
        self.gpa.free(self.plain);
        for (self.seen.items) |s| {
            self.gpa.free(s.path);
            self.gpa.free(s.target);
        }
        self.seen.deinit(self.gpa);
        for (self.links.items) |l| {
            self.gpa.free(l.path);
            self.gpa.free(l.source);
        }
        self.links.deinit(self.gpa);
    }

    fn frame(self: *Worker, job: *const artifact.Job) fail.Failed!void {
        const f = job.frame;
        if (f.length > whole_frame_max or f.uncompressed_size > whole_frame_max) return self.streamFrame(job);
        const src = try self.buffer(&self.compressed, f.length);
        const art = self.shared.art;
        const got = sys.preadAll(art.fd, src, art.trailer.payload_offset + f.offset) catch
            return fail.damaged("cannot read the payload: {s}", .{sys.errnoText(sys.errno())});
        if (got != src.len) return fail.damaged("the payload is cut short", .{});
        var digest: [32]u8 = undefined;
        Sha256.hash(src, &digest, .{});
        if (!artifact.hexEquals(digest, f.sha256))
            return fail.damaged("frame {d} of layer {s}: checksum mismatch", .{ job.index, job.layer });
        const plain = try self.decompress(job, src);
        try self.entriesOf(job, plain);
    }

    /// A large frame a chunk at a time: its compressed bytes hashed first (libzstd never sees
    /// bytes that are not the manifest's), then read again, decompressed and parsed as they
    /// come, so memory stays a few chunks whatever the frame declares.
    fn streamFrame(self: *Worker, job: *const artifact.Job) fail.Failed!void {
        const f = job.frame;
        const in = try self.buffer(&self.compressed, chunk_size);
        var h = Sha256.init(.{});
        var off: u64 = 0;
        while (off < f.length) : (off += chunk_size) {
            const got = try self.readChunk(in, f, off);
            h.update(got);
        }
        if (!artifact.hexEquals(h.finalResult(), f.sha256))
            return fail.damaged("frame {d} of layer {s}: checksum mismatch", .{ job.index, job.layer });
        if (self.decoder == null) self.decoder = zstd.Decoder.init() catch return fail.outOfMemory();
        const dec = self.decoder.?;
        dec.reset();
        const out = try self.buffer(&self.plain, chunk_size);
        var parser: Stream = .{ .worker = self, .job = job };
        defer parser.deinit();
        var total: u64 = 0;
        var ended = false;
        off = 0;
        while (off < f.length) : (off += chunk_size) {
            const got = try self.readChunk(in, f, off);
            var pos: usize = 0;
            while (true) {
                const step = try decode(dec, job, out, got[pos..]);
                pos += step.consumed;
                total += step.produced;
                ended = step.frame_done;
                if (total > f.uncompressed_size)
                    return fail.damaged("frame {d} of layer {s} has more than {d} bytes", .{ job.index, job.layer, f.uncompressed_size });
                try parser.feed(out[0..step.produced]);
                if (pos == got.len and step.produced < out.len) break; // all in, all out
                if (step.consumed == 0 and step.produced == 0) break;
            }
        }
        if (!ended) return fail.damaged("frame {d} of layer {s} does not decompress: its zstd frame is cut short", .{ job.index, job.layer });
        if (total != f.uncompressed_size)
            return fail.damaged("frame {d} of layer {s} has {d} bytes, not {d}", .{ job.index, job.layer, total, f.uncompressed_size });
        try parser.finish();
    }

    fn readChunk(self: *Worker, buf: []u8, f: artifact.Frame, off: u64) fail.Failed![]u8 {
        const art = self.shared.art;
        const want: usize = @intCast(@min(buf.len, f.length - off));
        const got = sys.preadAll(art.fd, buf[0..want], art.trailer.payload_offset + f.offset + off) catch
            return fail.damaged("cannot read the payload: {s}", .{sys.errnoText(sys.errno())});
        if (got != want) return fail.damaged("the payload is cut short", .{});
        return buf[0..want];
    }

    /// A reusable buffer of exactly *size* bytes (grown, never shrunk).
    fn buffer(self: *Worker, buf: *[]u8, size: u64) fail.Failed![]u8 {
        const n: usize = @intCast(size);
        if (buf.len < n) {
            self.gpa.free(buf.*);
            buf.* = &.{};
            buf.* = self.gpa.alloc(u8, n) catch return fail.outOfMemory();
        }
        return buf.*[0..n];
    }

    fn decompress(self: *Worker, job: *const artifact.Job, src: []const u8) fail.Failed![]const u8 {
        const size = job.frame.uncompressed_size;
        // One byte of slack tells "larger than announced" from "exactly right".
        const dst = try self.buffer(&self.plain, size + 1);
        if (self.decoder == null) self.decoder = zstd.Decoder.init() catch return fail.outOfMemory();
        switch (self.decoder.?.decompress(dst, src)) {
            .err => |name| return fail.damaged("frame {d} of layer {s} does not decompress: {s}", .{ job.index, job.layer, name }),
            .size => |n| if (n != size)
                return fail.damaged("frame {d} of layer {s} has {d} bytes, not {d}", .{ job.index, job.layer, n, size }),
        }
        return dst[0..@intCast(size)];
    }

    fn entriesOf(self: *Worker, job: *const artifact.Job, plain: []const u8) fail.Failed!void {
        var it: entries.Iterator = .{ .buf = plain };
        while (true) {
            if (fail.failed()) return error.Failed;
            const next = it.next() catch |e|
                return fail.damaged("frame {d} of layer {s}: {s}", .{ job.index, job.layer, entries.describe(e) });
            const entry = next orelse break;
            try self.remember(entry, job.layer_index);
            switch (self.shared.target) {
                .verify => {},
                .dir => |root| try self.create(root, entry),
            }
        }
    }

    fn remember(self: *Worker, entry: entries.Entry, layer: usize) fail.Failed!void {
        const path = self.gpa.dupe(u8, entry.path) catch return fail.outOfMemory();
        const target = self.gpa.dupe(u8, if (entry.kind == .symlink) entry.data else "") catch {
            self.gpa.free(path);
            return fail.outOfMemory();
        };
        self.seen.append(self.gpa, .{ .path = path, .kind = entry.kind, .target = target, .mode = entry.mode, .layer = layer }) catch {
            self.gpa.free(path);
            self.gpa.free(target);
            return fail.outOfMemory();
        };
    }

    /// A new file for *path* (the streaming path writes its data in chunks).
    fn openFile(self: *Worker, root: sys.Fd, path: []const u8, mode: u32) fail.Failed!sys.Fd {
        if (self.parents == null) self.parents = .{ .root = root };
        const where = entries.split(path);
        const dir = try self.parents.?.open(where.parent, path);
        var z: sys.PathZ = .{};
        const name = z.of(where.name) catch return fail.writeFailed(path, sys.errno());
        return sys.createFile(dir, name, mode) catch return inTheWay(path);
    }

    fn create(self: *Worker, root: sys.Fd, entry: entries.Entry) fail.Failed!void {
        if (self.parents == null) self.parents = .{ .root = root };
        const where = entries.split(entry.path);
        const dir = try self.parents.?.open(where.parent, entry.path);
        var z: sys.PathZ = .{};
        const name = z.of(where.name) catch return fail.writeFailed(entry.path, sys.errno());
        switch (entry.kind) {
            .dir => try makeDir(dir, name, entry, self.shared.umask),
            .file => try writeFile(dir, name, entry),
            .symlink => if (sys.has_symlinks) try makeLink(dir, name, entry) else try self.deferLink(entry),
        }
    }

    fn deferLink(self: *Worker, entry: entries.Entry) fail.Failed!void {
        const path = self.gpa.dupe(u8, entry.path) catch return fail.outOfMemory();
        const source = resolveLink(self.gpa, entry.path, entry.data) catch return fail.outOfMemory();
        self.links.append(self.gpa, .{ .path = path, .source = source }) catch return fail.outOfMemory();
    }
};

/// Frames larger than this, compressed or not, are streamed (Worker.streamFrame).
const whole_frame_max: u64 = 32 << 20;
const chunk_size = 1 << 20;

fn decode(dec: zstd.Decoder, job: *const artifact.Job, out: []u8, in: []const u8) fail.Failed!zstd.Decoder.Step {
    return switch (dec.stream(out, in)) {
        .err => |name| fail.damaged("frame {d} of layer {s} does not decompress: {s}", .{ job.index, job.layer, name }),
        .step => |step| step,
    };
}

/// The entries of a streamed frame, parsed from decompressed bytes as they come: the
/// header and path (and a symlink's target) are collected, a file's data is written as it
/// arrives. The rules are entries.zig's, and what is created is what `create` makes.
const Stream = struct {
    worker: *Worker,
    job: *const artifact.Job,
    state: enum { header, path, target, data } = .header,
    have: usize = 0,
    head: [entries.header_size]u8 = undefined,
    header: entries.Header = undefined,
    path: [entries.max_path]u8 = undefined,
    target: [entries.max_path]u8 = undefined,
    /// data bytes of the current entry still to come
    left: u64 = 0,
    file: ?sys.Fd = null,

    fn deinit(self: *Stream) void {
        if (self.file) |fd| sys.close(fd);
        self.file = null;
    }

    fn invalid(self: *Stream, e: entries.Invalid) fail.Failed {
        return fail.damaged("frame {d} of layer {s}: {s}", .{ self.job.index, self.job.layer, entries.describe(e) });
    }

    fn feed(self: *Stream, bytes: []const u8) fail.Failed!void {
        var rest = bytes;
        while (rest.len > 0 or (self.state == .data and self.left == 0)) {
            if (fail.failed()) return error.Failed;
            switch (self.state) {
                .header => {
                    rest = take(&self.head, &self.have, entries.header_size, rest);
                    if (self.have == entries.header_size) {
                        self.header = entries.parseHeader(&self.head) catch |e| return self.invalid(e);
                        self.have = 0;
                        self.state = .path;
                    }
                },
                .path => {
                    rest = take(&self.path, &self.have, self.header.path_len, rest);
                    if (self.have == self.header.path_len) try self.pathDone();
                },
                .target => {
                    rest = take(&self.target, &self.have, @intCast(self.header.data_len), rest);
                    if (self.have == self.header.data_len) try self.targetDone();
                },
                .data => {
                    const n: usize = @intCast(@min(rest.len, self.left));
                    if (self.file) |fd| sys.writeAll(fd, rest[0..n]) catch return fail.writeFailed(self.path[0..self.header.path_len], sys.errno());
                    rest = rest[n..];
                    self.left -= n;
                    if (self.left == 0) {
                        self.deinit();
                        self.state = .header;
                    }
                },
            }
        }
    }

    /// Copies into buf[have..want] what *rest* holds of it; the rest of *rest*.
    fn take(buf: []u8, have: *usize, want: usize, rest: []const u8) []const u8 {
        const n = @min(rest.len, want - have.*);
        @memcpy(buf[have.*..][0..n], rest[0..n]);
        have.* += n;
        return rest[n..];
    }

    fn pathDone(self: *Stream) fail.Failed!void {
        const path = self.path[0..self.header.path_len];
        entries.checkPath(path) catch |e| return self.invalid(e);
        self.have = 0;
        const w = self.worker;
        switch (self.header.kind) {
            .symlink => self.state = .target,
            .dir => {
                const entry: entries.Entry = .{ .kind = .dir, .mode = self.header.mode, .path = path, .data = "" };
                try w.remember(entry, self.job.layer_index);
                if (w.shared.target == .dir) try w.create(w.shared.target.dir, entry);
                self.left = self.header.data_len; // skipped, as entries.Iterator does
                self.state = .data;
            },
            .file => {
                try w.remember(.{ .kind = .file, .mode = self.header.mode, .path = path, .data = "" }, self.job.layer_index);
                if (w.shared.target == .dir) self.file = try w.openFile(w.shared.target.dir, path, self.header.mode);
                self.left = self.header.data_len;
                self.state = .data;
            },
        }
    }

    fn targetDone(self: *Stream) fail.Failed!void {
        const path = self.path[0..self.header.path_len];
        const target = self.target[0..@intCast(self.header.data_len)];
        entries.checkLink(path, target) catch |e| return self.invalid(e);
        const entry: entries.Entry = .{ .kind = .symlink, .mode = self.header.mode, .path = path, .data = target };
        const w = self.worker;
        try w.remember(entry, self.job.layer_index);
        if (w.shared.target == .dir) try w.create(w.shared.target.dir, entry);
        self.have = 0;
        self.state = .header;
    }

    /// The frame ended: it must end between two entries.
    fn finish(self: *Stream) fail.Failed!void {
        if (self.state != .header or self.have != 0) return self.invalid(error.TruncatedEntry);
    }
};

/// Directories get the entry's mode, less the umask, plus owner rwx, so the
/// tree can always be filled and removed by its owner.
fn makeDir(dir: sys.Fd, name: [:0]const u8, entry: entries.Entry, umask: u32) fail.Failed!void {
    const mode = (entry.mode & ~umask) | 0o700;
    sys.makeDir(dir, name, mode) catch if (!sys.isExists(sys.errno())) return fail.writeFailed(entry.path, sys.errno());
    const fd = sys.openDir(dir, name) catch {
        if (sys.isNotADirectory(sys.errno())) return fail.damaged("{s} appears twice in the payload", .{entry.path});
        return fail.writeFailed(entry.path, sys.errno());
    };
    defer sys.close(fd);
    sys.setMode(fd, mode) catch return fail.writeFailed(entry.path, sys.errno());
}

/// Files get the entry's mode less the umask (the kernel applies it at creation), as any
/// program's files do: an extract:DIR tree is never more open than the user asked for.
fn writeFile(dir: sys.Fd, name: [:0]const u8, entry: entries.Entry) fail.Failed!void {
    const fd = sys.createFile(dir, name, entry.mode) catch return inTheWay(entry.path);
    defer sys.close(fd);
    sys.writeAll(fd, entry.data) catch return fail.writeFailed(entry.path, sys.errno());
}

fn makeLink(dir: sys.Fd, name: [:0]const u8, entry: entries.Entry) fail.Failed!void {
    var z: sys.PathZ = .{};
    const target = z.of(entry.data) catch return fail.writeFailed(entry.path, sys.errno());
    sys.symlink(target, dir, name) catch return inTheWay(entry.path);
}

/// EEXIST, ELOOP, ENOTDIR while creating: the payload names a path twice or
/// puts something under a file or symlink, which the writer never does.
fn inTheWay(path: []const u8) fail.Failed {
    const e = sys.errno();
    if (sys.isExists(e)) return fail.damaged("{s} appears twice in the payload", .{path});
    if (sys.isNotADirectory(e)) return fail.damaged("{s} lies under a file or a symlink of the payload", .{path});
    return fail.writeFailed(path, e);
}

/// The directory an entry goes into, opened component by component with
/// O_NOFOLLOW (a symlink in the payload can never redirect a write), created
/// (0755) when missing. The last one is kept open: entries are sorted by path,
/// so consecutive entries usually share it.
const Parents = struct {
    root: sys.Fd,
    path: [entries.max_path]u8 = undefined,
    len: usize = 0,
    fd: ?sys.Fd = null,

    fn deinit(self: *Parents) void {
        if (self.fd) |fd| sys.close(fd);
        self.fd = null;
    }

    /// The open directory *parent*; *path* (the entry's) is for messages.
    fn open(self: *Parents, parent: []const u8, path: []const u8) fail.Failed!sys.Fd {
        if (parent.len == 0) return self.root;
        if (self.fd) |fd| if (std.mem.eql(u8, self.path[0..self.len], parent)) return fd;
        self.deinit();
        const fd = try walk(self.root, parent, path);
        @memcpy(self.path[0..parent.len], parent);
        self.len = parent.len;
        self.fd = fd;
        return fd;
    }

    fn walk(root: sys.Fd, parent: []const u8, path: []const u8) fail.Failed!sys.Fd {
        var cur = root;
        errdefer if (cur != root) sys.close(cur);
        var it = std.mem.splitScalar(u8, parent, '/');
        while (it.next()) |part| {
            var z: sys.PathZ = .{};
            const name = z.of(part) catch return fail.writeFailed(path, sys.errno());
            const next = try openOrMake(cur, name, path);
            if (cur != root) sys.close(cur);
            cur = next;
        }
        return cur;
    }

    fn openOrMake(dir: sys.Fd, name: [:0]const u8, path: []const u8) fail.Failed!sys.Fd {
        if (sys.openDir(dir, name)) |fd| return fd else |_| {}
        if (!sys.isNotFound(sys.errno())) return inTheWay(path);
        sys.makeDir(dir, name, 0o755) catch if (!sys.isExists(sys.errno())) return fail.writeFailed(path, sys.errno());
        return sys.openDir(dir, name) catch return inTheWay(path);
    }
};

// ---------------------------------------------------------------- symlinks as copies (Windows)

/// A symlink entry to be copied: its path and its target resolved (lexically,
/// like entries.checkLink) to a path relative to the root ("" is the root).
const Link = struct { path: []const u8, source: []const u8 };

fn resolveLink(gpa: std.mem.Allocator, path: []const u8, target: []const u8) error{OutOfMemory}![]u8 {
    var parts: std.ArrayList([]const u8) = .empty;
    defer parts.deinit(gpa);
    var dirs = std.mem.splitScalar(u8, entries.split(path).parent, '/');
    while (dirs.next()) |p| if (p.len > 0) try parts.append(gpa, p);
    var it = std.mem.splitScalar(u8, target, '/');
    while (it.next()) |p| {
        if (p.len == 0 or std.mem.eql(u8, p, ".")) continue;
        if (std.mem.eql(u8, p, "..")) {
            _ = parts.pop(); // checkLink made sure it stays inside the root
        } else try parts.append(gpa, p);
    }
    return std.mem.join(gpa, "/", parts.items);
}

/// *path* is *dir* or lies inside it ("" is the root).
fn within(path: []const u8, dir: []const u8) bool {
    if (dir.len == 0) return true;
    return std.mem.startsWith(u8, path, dir) and (path.len == dir.len or path[dir.len] == '/');
}

/// Creates every deferred symlink as a copy of what it points to. A link is
/// copied once no other pending link is its source, lies above its source or
/// inside it (so chains of links copy in order); a dangling link creates
/// nothing, like a dangling symlink points to nothing.
fn copyLinks(gpa: std.mem.Allocator, root: sys.Fd, workers: []Worker) fail.Failed!void {
    var pending: std.ArrayList(*const Link) = .empty;
    defer pending.deinit(gpa);
    for (workers) |*w| for (w.links.items) |*l| pending.append(gpa, l) catch return fail.outOfMemory();
    if (pending.items.len == 0) return;
    const buf = gpa.alloc(u8, 1 << 20) catch return fail.outOfMemory();
    defer gpa.free(buf);
    while (pending.items.len > 0) {
        var progress = false;
        var i: usize = 0;
        while (i < pending.items.len) {
            const l = pending.items[i];
            if (within(l.path, l.source)) return cannotCopy(l);
            if (blocked(l, pending.items)) {
                i += 1;
                continue;
            }
            try copyLink(root, l, buf);
            _ = pending.swapRemove(i);
            progress = true;
        }
        if (!progress) return cannotCopy(pending.items[0]);
    }
}

fn blocked(l: *const Link, pending: []const *const Link) bool {
    for (pending) |p| {
        if (p == l) continue;
        if (within(l.source, p.path) or within(p.path, l.source)) return true;
    }
    return false;
}

fn cannotCopy(l: *const Link) fail.Failed {
    return fail.record(
        .damaged,
        "{s}: the symlink {s} cannot be made a copy on this system (it contains itself or the links form a loop); this artifact does not run here.",
        .{ fail.context.artifact, l.path },
    );
}

fn copyLink(root: sys.Fd, l: *const Link, buf: []u8) fail.Failed!void {
    var src_z: sys.PathZ = .{};
    const src = src_z.of(if (l.source.len == 0) "." else l.source) catch return fail.writeFailed(l.path, sys.errno());
    const st = sys.statAt(root, src, false) catch {
        if (sys.isNotFound(sys.errno())) return; // dangling: nothing to copy
        return fail.writeFailed(l.path, sys.errno());
    };
    const where = entries.split(l.path);
    const parent = if (where.parent.len == 0) root else try Parents.walk(root, where.parent, l.path);
    defer if (parent != root) sys.close(parent);
    var name_z: sys.PathZ = .{};
    const name = name_z.of(where.name) catch return fail.writeFailed(l.path, sys.errno());
    switch (st.kind) {
        .file => try copyFile(root, src, parent, name, l.path, buf),
        .dir => {
            sys.makeDir(parent, name, 0o755) catch return inTheWay(l.path);
            const to = sys.openDir(parent, name) catch return fail.writeFailed(l.path, sys.errno());
            defer sys.close(to);
            const from = sys.openDir(root, src) catch return fail.writeFailed(l.path, sys.errno());
            defer sys.close(from);
            try copyDir(from, to, l.path, buf);
        },
        else => {},
    }
}

fn copyFile(from_dir: sys.Fd, from: [:0]const u8, to_dir: sys.Fd, to: [:0]const u8, path: []const u8, buf: []u8) fail.Failed!void {
    const in = sys.openReadAt(from_dir, from) catch return fail.writeFailed(path, sys.errno());
    defer sys.close(in);
    const out = sys.createFile(to_dir, to, 0o644) catch return inTheWay(path);
    defer sys.close(out);
    var off: u64 = 0;
    while (true) {
        const n = sys.preadAll(in, buf, off) catch return fail.writeFailed(path, sys.errno());
        if (n == 0) break;
        sys.writeAll(out, buf[0..n]) catch return fail.writeFailed(path, sys.errno());
        off += n;
    }
}

fn copyDir(from: sys.Fd, to: sys.Fd, path: []const u8, buf: []u8) fail.Failed!void {
    var it: sys.DirIterator = .{ .fd = from };
    while (it.next() catch return fail.writeFailed(path, sys.errno())) |entry| {
        if (fail.failed()) return error.Failed;
        switch (entry.kind) {
            .file => try copyFile(from, entry.name, to, entry.name, path, buf),
            .dir => {
                sys.makeDir(to, entry.name, 0o755) catch return inTheWay(path);
                const sub_to = sys.openDir(to, entry.name) catch return fail.writeFailed(path, sys.errno());
                defer sys.close(sub_to);
                const sub_from = sys.openDir(from, entry.name) catch return fail.writeFailed(path, sys.errno());
                defer sys.close(sub_from);
                try copyDir(sub_from, sub_to, path, buf);
            },
            else => {},
        }
    }
}

test "symlink targets resolve inside the root" {
    const gpa = std.testing.allocator;
    const cases = [_][3][]const u8{
        .{ "bin/python3", "python3.11", "bin/python3.11" },
        .{ "a/b/c", "../x", "a/x" },
        .{ "a/b", "./c/../d", "a/d" },
        .{ "top", "dir/./f", "dir/f" },
        .{ "a/l", "..", "" },
    };
    for (cases) |c| {
        const got = try resolveLink(gpa, c[0], c[1]);
        defer gpa.free(got);
        try std.testing.expectEqualStrings(c[2], got);
    }
    try std.testing.expect(within("a/b", "a") and within("a", "a") and within("x", "") and !within("ab", "a"));
}
