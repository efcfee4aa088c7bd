//! Everything the stub asks of the operating system, for macOS (arm64, x86_64).
//!
//! The same public declarations as sys_linux.zig, through libSystem (macOS
//! has no stable system-call ABI): the POSIX `*at()` calls through `std.c`,
//! `_NSGetExecutablePath` + `realpath` for the program's own file,
//! `fcntl(F_GETPATH)` for a directory's path, `__getdirentries64` (what
//! `std.c.getdirentries` names on Darwin) to list a directory.
//!
//! Calls that can fail return `error.Sys` and leave the errno in a
//! thread-local (`errno()`), like C does.

const std = @import("std");
const c = std.c;

pub const Fd = c.fd_t;
pub const Errno = c.E;
pub const Error = common.Error;
pub const max_path = 4096;
pub const cwd: Fd = c.AT.FDCWD;
pub const sep = '/';
/// Whether file and environment-variable names compare without regard to case.
pub const names_ignore_case = false;

/// The last component of a path as this OS splits it.
pub fn basename(path: []const u8) []const u8 {
    return std.fs.path.basenamePosix(path);
}
pub const has_symlinks = true;
/// What to check when the stub cannot read its own file.
pub const self_read_hint = "check that the file is readable";
/// For an interpreter that may not run (EACCES/EPERM).
pub const exec_denied_hint = "if that directory is on a volume mounted noexec, set BUNDLER_CACHE_DIR to a directory where programs may run.";

const common = @import("posix.zig").Common(Errno, max_path);
pub const errno = common.errno;
const fail = common.fail;
pub const errnoText = common.errnoText;
pub const isNoSpace = common.isNoSpace;
pub const isExists = common.isExists;
pub const isNotPermitted = common.isNotPermitted;
pub const isNotFound = common.isNotFound;
pub const isNotADirectory = common.isNotADirectory;
pub const PathZ = common.PathZ;

fn check(rc: anytype) Error!@TypeOf(rc) {
    const e = c.errno(rc);
    if (e == .SUCCESS) return rc;
    return common.fail(e);
}

// ---------------------------------------------------------------- files

pub fn close(fd: Fd) void {
    _ = c.close(fd);
}

fn openAt(dir: Fd, name: [*:0]const u8, flags: c.O, mode: c.mode_t) Error!Fd {
    while (true) {
        const rc = c.openat(dir, name, flags, mode);
        if (c.errno(rc) == .INTR) continue;
        return try check(rc);
    }
}

pub fn openRead(path: [:0]const u8) Error!Fd {
    return openAt(cwd, path, .{ .ACCMODE = .RDONLY, .CLOEXEC = true }, 0);
}

/// The absolute, symlink-free path of the running program.
pub fn selfPath(buf: []u8) Error![]u8 {
    var raw: [max_path + 1]u8 = undefined;
    var size: u32 = raw.len;
    if (c._NSGetExecutablePath(&raw, &size) != 0) return fail(.NAMETOOLONG);
    var resolved: [1024]u8 = undefined; // PATH_MAX on macOS
    const p = c.realpath(@ptrCast(&raw), &resolved) orelse return fail(@fromBackingInt(@intCast(c._errno().*)));
    const path = std.mem.span(p);
    if (path.len >= buf.len) return fail(.NAMETOOLONG);
    @memcpy(buf[0..path.len], path);
    return buf[0..path.len];
}

pub fn fileSize(fd: Fd) Error!u64 {
    var st: c.Stat = undefined;
    _ = try check(c.fstat(fd, &st));
    return @intCast(st.size);
}

/// Reads until *buf* is full or the file ends; returns the bytes read.
pub fn preadAll(fd: Fd, buf: []u8, offset: u64) Error!usize {
    var done: usize = 0;
    while (done < buf.len) {
        const rc = c.pread(fd, buf.ptr + done, @min(buf.len - done, 1 << 30), @intCast(offset + done));
        const n = check(rc) catch |e| if (errno() == .INTR) continue else return e;
        if (n == 0) break;
        done += @intCast(n);
    }
    return done;
}

pub fn writeAll(fd: Fd, data: []const u8) Error!void {
    var done: usize = 0;
    while (done < data.len) {
        const rc = c.write(fd, data.ptr + done, @min(data.len - done, 1 << 30));
        const n = check(rc) catch |e| if (errno() == .INTR) continue else return e;
        if (n == 0) return fail(.IO);
        done += @intCast(n);
    }
}

/// Creates a new regular file; never follows a symlink, never reuses a file.
pub fn createFile(dir: Fd, name: [:0]const u8, mode: u32) Error!Fd {
    const flags: c.O = .{ .ACCMODE = .WRONLY, .CREAT = true, .EXCL = true, .NOFOLLOW = true, .CLOEXEC = true };
    return openAt(dir, name, flags, @intCast(mode));
}

pub fn setMode(fd: Fd, mode: u32) Error!void {
    _ = try check(c.fchmod(fd, @intCast(mode)));
}

// ---------------------------------------------------------------- directories and links

/// Opens a directory without following a symlink in its last component.
pub fn openDir(dir: Fd, name: [:0]const u8) Error!Fd {
    const flags: c.O = .{ .ACCMODE = .RDONLY, .DIRECTORY = true, .NOFOLLOW = true, .CLOEXEC = true };
    return openAt(dir, name, flags, 0);
}

/// Opens a directory by a path the user gave (symlinks followed).
pub fn openDirFollow(path: [:0]const u8) Error!Fd {
    const flags: c.O = .{ .ACCMODE = .RDONLY, .DIRECTORY = true, .CLOEXEC = true };
    return openAt(cwd, path, flags, 0);
}

pub fn makeDir(dir: Fd, name: [:0]const u8, mode: u32) Error!void {
    _ = try check(c.mkdirat(dir, name, @intCast(mode)));
}

/// `mkdir -p`: creates every missing directory of *path* with *mode*.
pub fn makePath(path: [:0]const u8, mode: u32) Error!void {
    if (makeDir(cwd, path, mode)) return else |_| if (errno() == .EXIST) return;
    var z: PathZ = .{};
    const copy = try z.of(path);
    const bytes: [*]u8 = @constCast(copy.ptr);
    for (1..copy.len) |i| {
        if (bytes[i] != '/') continue;
        bytes[i] = 0;
        makeDir(cwd, @ptrCast(bytes[0..i :0]), mode) catch {};
        bytes[i] = '/';
    }
    makeDir(cwd, path, mode) catch if (errno() != .EXIST) return error.Sys;
}

pub fn symlink(target: [:0]const u8, dir: Fd, name: [:0]const u8) Error!void {
    _ = try check(c.symlinkat(target, dir, name));
}

/// Whether `hardLink` can work here (layers shared between trees, stubs/layers.zig).
pub const has_hard_links = true;

/// A second name *to* in *to_dir* for the file *from* in *from_dir*; a symlink *from* is linked
/// itself, never followed. Fails with EXDEV across volumes, EMLINK past the link limit.
pub fn hardLink(from_dir: Fd, from: [:0]const u8, to_dir: Fd, to: [:0]const u8) Error!void {
    _ = try check(c.linkat(from_dir, from, to_dir, to, 0));
}

/// Opens a file relative to *dir* for reading, never through a symlink.
pub fn openReadAt(dir: Fd, name: [:0]const u8) Error!Fd {
    return openAt(dir, name, .{ .ACCMODE = .RDONLY, .NOFOLLOW = true, .CLOEXEC = true }, 0);
}

/// rename(2) within one directory; fails with EEXIST/ENOTEMPTY if *new* is a non-empty directory.
pub fn rename(dir: Fd, old: [:0]const u8, new: [:0]const u8) Error!void {
    _ = try check(c.renameat(dir, old, dir, new));
}

pub fn removeEntry(dir: Fd, name: [:0]const u8, is_dir: bool) Error!void {
    _ = try check(c.unlinkat(dir, name, if (is_dir) c.AT.REMOVEDIR else 0));
}

pub const Kind = enum { dir, file, symlink, other };

pub const Stat = struct { kind: Kind, uid: u32, mode: u32 };

fn statOf(st: *const c.Stat) Stat {
    const mode: u32 = st.mode;
    const kind: Kind = switch (mode & c.S.IFMT) {
        c.S.IFDIR => .dir,
        c.S.IFREG => .file,
        c.S.IFLNK => .symlink,
        else => .other,
    };
    return .{ .kind = kind, .uid = st.uid, .mode = mode & 0o7777 };
}

/// stat (follow) or lstat of *name* relative to *dir* (`cwd` for a path).
pub fn statAt(dir: Fd, name: [:0]const u8, follow: bool) Error!Stat {
    var st: c.Stat = undefined;
    _ = try check(c.fstatat(dir, name, &st, if (follow) 0 else c.AT.SYMLINK_NOFOLLOW));
    return statOf(&st);
}

pub fn statFd(fd: Fd) Error!Stat {
    var st: c.Stat = undefined;
    _ = try check(c.fstat(fd, &st));
    return statOf(&st);
}

/// The size in bytes, the modification time (ns since the epoch) and the number of names of
/// *name* in *dir*, not following a symlink.
pub fn sizeAndTime(dir: Fd, name: [:0]const u8) Error!SizeAndTime {
    var st: c.Stat = undefined;
    _ = try check(c.fstatat(dir, name, &st, c.AT.SYMLINK_NOFOLLOW));
    const t = st.mtime();
    return .{ .size = @intCast(st.size), .mtime = @as(i128, t.sec) * std.time.ns_per_s + t.nsec, .links = @intCast(st.nlink) };
}

/// Size, modification time (ns since 1970) and number of names (hard links) of a file.
pub const SizeAndTime = struct { size: u64, mtime: i128, links: u64 };

// ---------------------------------------------------------------- the in-use lock

/// Whether a lock on a descriptor is what keeps a tree in use in place (Windows: open files do).
pub const locks_by_descriptor = true;

/// Opens *name* in *dir* to lock it, never through a symlink. With *inherit* the descriptor
/// survives execve, and a lock taken on it lasts as long as the program exec'd (the runtime).
pub fn openLock(dir: Fd, name: [:0]const u8, inherit: bool) Error!Fd {
    return openAt(dir, name, .{ .ACCMODE = .RDONLY, .NOFOLLOW = true, .CLOEXEC = !inherit }, 0);
}

/// A shared lock on *fd*, waiting while someone holds an exclusive one.
pub fn lockShared(fd: Fd) Error!void {
    while (true) {
        const rc = c.flock(fd, c.LOCK.SH);
        if (c.errno(rc) == .INTR) continue;
        _ = try check(rc);
        return;
    }
}

/// An exclusive lock on *fd* if nobody holds any; false when someone does.
pub fn tryLockExclusive(fd: Fd) Error!bool {
    const rc = c.flock(fd, c.LOCK.EX | c.LOCK.NB);
    if (c.errno(rc) == .AGAIN) return false;
    _ = try check(rc);
    return true;
}

/// rename within *dir*, once (no retry: a tree in use stays where it is).
pub fn renameOnce(dir: Fd, old: [:0]const u8, new: [:0]const u8) Error!void {
    return rename(dir, old, new);
}

/// Bytes still free on the file system of *fd*: not asked on macOS (null: the extraction
/// finds out when a write fails with ENOSPC, and says so the same way).
pub fn freeBytes(fd: Fd) ?u64 {
    _ = fd;
    return null;
}

/// The absolute path of an open directory (fcntl F_GETPATH).
pub fn pathOfFd(fd: Fd, buf: []u8) Error![]u8 {
    var raw: [1024]u8 = undefined; // MAXPATHLEN
    _ = try check(c.fcntl(fd, c.F.GETPATH, &raw));
    const path = std.mem.sliceTo(&raw, 0);
    if (path.len >= buf.len) return fail(.NAMETOOLONG);
    @memcpy(buf[0..path.len], path);
    return buf[0..path.len];
}

/// Iterates the names in a directory (without "." and "..").
pub const DirIterator = struct {
    fd: Fd,
    // Small: removeTree recurses with one iterator per directory level
    // (one Darwin dirent is up to 1048 bytes).
    buf: [2048]u8 align(8) = undefined,
    pos: usize = 0,
    end: usize = 0,
    seek: i64 = 0,

    pub const Entry = struct { name: [:0]const u8, kind: Kind };

    pub fn next(self: *DirIterator) Error!?Entry {
        while (true) {
            if (self.pos >= self.end) {
                const n = try check(c.getdirentries(self.fd, &self.buf, self.buf.len, &self.seek));
                self.end = @intCast(n);
                self.pos = 0;
                if (self.end == 0) return null;
            }
            const d: *align(1) c.dirent = @ptrCast(&self.buf[self.pos]);
            const name_off = self.pos + @offsetOf(c.dirent, "name");
            self.pos += d.reclen;
            const name = self.buf[name_off..][0..d.namlen];
            if (std.mem.eql(u8, name, ".") or std.mem.eql(u8, name, "..")) continue;
            self.buf[name_off + d.namlen] = 0; // already NUL-terminated by the kernel
            const kind: Kind = switch (d.type) {
                c.DT.DIR => .dir,
                c.DT.REG => .file,
                c.DT.LNK => .symlink,
                else => .other, // DT_UNKNOWN too: removeTree falls back to trying both
            };
            return .{ .name = self.buf[name_off..][0..d.namlen :0], .kind = kind };
        }
    }
};

const removal = @import("posix.zig").Removal(@This());
/// `rm -rf dir/name` without following symlinks; a missing tree is not an error.
pub const removeTree = removal.removeTree;
/// Empties an open directory (`rm -rf dir/*`), without following symlinks.
pub const removeContents = removal.removeContents;

// ---------------------------------------------------------------- processes

pub fn getPid() i32 {
    return c.getpid();
}

pub fn effectiveUid() u32 {
    return c.geteuid();
}

/// False only if the process certainly does not exist (ESRCH).
pub fn pidAlive(pid: i32) bool {
    if (pid <= 0) return true;
    return c.errno(c.kill(pid, @fromBackingInt(@intCast(0)))) != .SRCH;
}

/// The process's umask, without changing it.
pub fn umask() u32 {
    const old = c.umask(0o022);
    _ = c.umask(old);
    return old;
}

pub fn randomBytes(buf: []u8) void {
    c.arc4random_buf(buf.ptr, buf.len);
}

/// CPUs available to this process (hw.activecpu).
pub fn cpuCount() usize {
    var n: c_int = 0;
    var len: usize = @sizeOf(c_int);
    if (c.sysctlbyname("hw.activecpu", &n, &len, null, 0) != 0 or n < 1) return 1;
    return @intCast(n);
}

pub fn processArgs(init: std.process.Init.Minimal, gpa: std.mem.Allocator) error{OutOfMemory}![]const [*:0]const u8 {
    _ = gpa;
    return init.args.vector;
}

pub fn processEnv(init: std.process.Init.Minimal, gpa: std.mem.Allocator) error{OutOfMemory}![]const [*:0]const u8 {
    _ = gpa;
    return init.environ.block.view().slice;
}

/// Replaces the process; returns only on failure, with the errno.
pub fn exec(path: [*:0]const u8, argv: [*:null]const ?[*:0]const u8, envp: [*:null]const ?[*:0]const u8) Errno {
    _ = c.execve(path, argv, envp);
    return @fromBackingInt(@intCast(c._errno().*));
}

pub fn writeStdout(data: []const u8) void {
    writeAll(1, data) catch {};
}

pub fn writeStderr(data: []const u8) void {
    writeAll(2, data) catch {};
}

pub fn exit(code: u8) noreturn {
    c._exit(code);
}
