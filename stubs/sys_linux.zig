//! Everything the stub asks of the operating system, for Linux.
//!
//! This is the only file that knows about Linux: raw system calls through
//! `std.os.linux`, plus libc's `strerror` for human-readable errno text. A
//! port to another system provides a `sys_<os>.zig` with the same public
//! declarations and adds it to `sys.zig`.
//!
//! Calls that can fail return `error.Sys` and leave the errno in a
//! thread-local (`errno()`), like C does, so callers can both propagate the
//! failure and tell EEXIST from ENOSPC.

const std = @import("std");
const linux = std.os.linux;

pub const Fd = linux.fd_t;
pub const Errno = linux.E;
pub const Error = common.Error;
pub const max_path = 4096;
pub const cwd: Fd = linux.AT.FDCWD;

/// Where the running program's own file is found.
pub const self_exe = "/proc/self/exe";
/// What to check when the stub cannot read its own file.
pub const self_read_hint = "run it where /proc is mounted and the file is readable";
/// For an interpreter that may not run (EACCES/EPERM).
pub const exec_denied_hint = "if that directory is on a filesystem mounted noexec, set BUNDLER_CACHE_DIR to a directory where programs may run.";
/// The separator the stub puts between path components it joins.
pub const sep = '/';
/// Whether file and environment-variable names compare without regard to case.
pub const names_ignore_case = false;

/// The last component of a path as this OS splits it.
pub fn basename(path: []const u8) []const u8 {
    return std.fs.path.basenamePosix(path);
}
pub const has_symlinks = true;

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

fn check(rc: usize) Error!usize {
    const e = linux.errno(rc);
    if (e == .SUCCESS) return rc;
    return common.fail(e);
}

// ---------------------------------------------------------------- files

pub fn close(fd: Fd) void {
    _ = linux.close(fd);
}

pub fn openRead(path: [:0]const u8) Error!Fd {
    return @intCast(try check(linux.openat(cwd, path, .{ .ACCMODE = .RDONLY, .CLOEXEC = true }, 0)));
}

/// The absolute, symlink-free path of the running program.
pub fn selfPath(buf: []u8) Error![]u8 {
    const n = try check(linux.readlinkat(cwd, self_exe, buf.ptr, buf.len));
    if (n >= buf.len) return fail(.NAMETOOLONG);
    return buf[0..n];
}

pub fn fileSize(fd: Fd) Error!u64 {
    var st: linux.Statx = undefined;
    _ = try check(linux.statx(fd, "", linux.AT.EMPTY_PATH, .{ .SIZE = true }, &st));
    return st.size;
}

/// Reads until *buf* is full or the file ends; returns the bytes read.
pub fn preadAll(fd: Fd, buf: []u8, offset: u64) Error!usize {
    var done: usize = 0;
    while (done < buf.len) {
        const rc = linux.pread(fd, buf.ptr + done, @min(buf.len - done, 1 << 30), @intCast(offset + done));
        const n = check(rc) catch |e| if (errno() == .INTR) continue else return e;
        if (n == 0) break;
        done += n;
    }
    return done;
}

pub fn writeAll(fd: Fd, data: []const u8) Error!void {
    var done: usize = 0;
    while (done < data.len) {
        const rc = linux.write(fd, data.ptr + done, @min(data.len - done, 1 << 30));
        const n = check(rc) catch |e| if (errno() == .INTR) continue else return e;
        if (n == 0) return fail(.IO);
        done += n;
    }
}

/// Creates a new regular file; never follows a symlink, never reuses a file.
pub fn createFile(dir: Fd, name: [:0]const u8, mode: u32) Error!Fd {
    const flags: linux.O = .{ .ACCMODE = .WRONLY, .CREAT = true, .EXCL = true, .NOFOLLOW = true, .CLOEXEC = true };
    return @intCast(try check(linux.openat(dir, name, flags, mode)));
}

pub fn setMode(fd: Fd, mode: u32) Error!void {
    _ = try check(linux.fchmod(fd, mode));
}

/// Opens a file relative to *dir* for reading, never through a symlink.
pub fn openReadAt(dir: Fd, name: [:0]const u8) Error!Fd {
    const flags: linux.O = .{ .ACCMODE = .RDONLY, .NOFOLLOW = true, .CLOEXEC = true };
    return @intCast(try check(linux.openat(dir, name, flags, 0)));
}

// ---------------------------------------------------------------- directories and links

/// Opens a directory without following a symlink in its last component.
pub fn openDir(dir: Fd, name: [:0]const u8) Error!Fd {
    const flags: linux.O = .{ .ACCMODE = .RDONLY, .DIRECTORY = true, .NOFOLLOW = true, .CLOEXEC = true };
    return @intCast(try check(linux.openat(dir, name, flags, 0)));
}

/// Opens a directory by a path the user gave (symlinks followed).
pub fn openDirFollow(path: [:0]const u8) Error!Fd {
    const flags: linux.O = .{ .ACCMODE = .RDONLY, .DIRECTORY = true, .CLOEXEC = true };
    return @intCast(try check(linux.openat(cwd, path, flags, 0)));
}

pub fn makeDir(dir: Fd, name: [:0]const u8, mode: u32) Error!void {
    _ = try check(linux.mkdirat(dir, name, mode));
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
    _ = try check(linux.symlinkat(target, dir, name));
}

/// Whether `hardLink` can work here (layers shared between trees, stubs/layers.zig).
pub const has_hard_links = true;

/// A second name *to* in *to_dir* for the file *from* in *from_dir*; a symlink *from* is linked
/// itself, never followed. Fails with EXDEV across file systems, EMLINK past the link limit.
pub fn hardLink(from_dir: Fd, from: [:0]const u8, to_dir: Fd, to: [:0]const u8) Error!void {
    _ = try check(linux.linkat(from_dir, from, to_dir, to, 0));
}

/// rename(2) within one directory; fails with EEXIST/ENOTEMPTY if *new* is a non-empty directory.
pub fn rename(dir: Fd, old: [:0]const u8, new: [:0]const u8) Error!void {
    _ = try check(linux.renameat(dir, old, dir, new));
}

pub fn removeEntry(dir: Fd, name: [:0]const u8, is_dir: bool) Error!void {
    _ = try check(linux.unlinkat(dir, name, if (is_dir) linux.AT.REMOVEDIR else 0));
}

pub const Kind = enum { dir, file, symlink, other };

pub const Stat = struct { kind: Kind, uid: u32, mode: u32 };

fn kindOf(mode: u32) Kind {
    return switch (mode & linux.S.IFMT) {
        linux.S.IFDIR => .dir,
        linux.S.IFREG => .file,
        linux.S.IFLNK => .symlink,
        else => .other,
    };
}

fn statx(dir: Fd, name: [:0]const u8, flags: u32) Error!Stat {
    var st: linux.Statx = undefined;
    _ = try check(linux.statx(dir, name, flags, .{ .TYPE = true, .MODE = true, .UID = true }, &st));
    return .{ .kind = kindOf(st.mode), .uid = st.uid, .mode = st.mode & 0o7777 };
}

/// stat (follow) or lstat of *name* relative to *dir* (`cwd` for a path).
pub fn statAt(dir: Fd, name: [:0]const u8, follow: bool) Error!Stat {
    return statx(dir, name, if (follow) 0 else linux.AT.SYMLINK_NOFOLLOW);
}

pub fn statFd(fd: Fd) Error!Stat {
    return statx(fd, "", linux.AT.EMPTY_PATH);
}

/// The size in bytes, the modification time (ns since the epoch) and the number of names of
/// *name* in *dir*, not following a symlink.
pub fn sizeAndTime(dir: Fd, name: [:0]const u8) Error!SizeAndTime {
    var st: linux.Statx = undefined;
    _ = try check(linux.statx(dir, name, linux.AT.SYMLINK_NOFOLLOW, .{ .SIZE = true, .MTIME = true, .NLINK = true }, &st));
    return .{ .size = st.size, .mtime = @as(i128, st.mtime.sec) * std.time.ns_per_s + st.mtime.nsec, .links = st.nlink };
}

/// Size, modification time (ns since 1970) and number of names (hard links) of a file.
pub const SizeAndTime = struct { size: u64, mtime: i128, links: u64 };

// ---------------------------------------------------------------- the in-use lock

/// Whether a lock on a descriptor is what keeps a tree in use in place (Windows: open files do).
pub const locks_by_descriptor = true;

/// Opens *name* in *dir* to lock it, never through a symlink. With *inherit* the descriptor
/// survives execve, and a lock taken on it lasts as long as the program exec'd (the runtime).
pub fn openLock(dir: Fd, name: [:0]const u8, inherit: bool) Error!Fd {
    const flags: linux.O = .{ .ACCMODE = .RDONLY, .NOFOLLOW = true, .CLOEXEC = !inherit };
    return @intCast(try check(linux.openat(dir, name, flags, 0)));
}

/// A shared lock on *fd*, waiting while someone holds an exclusive one.
pub fn lockShared(fd: Fd) Error!void {
    while (true) {
        const rc = linux.flock(fd, std.posix.LOCK.SH);
        if (linux.errno(rc) == .INTR) continue;
        _ = try check(rc);
        return;
    }
}

/// An exclusive lock on *fd* if nobody holds any; false when someone does.
pub fn tryLockExclusive(fd: Fd) Error!bool {
    const rc = linux.flock(fd, std.posix.LOCK.EX | std.posix.LOCK.NB);
    if (linux.errno(rc) == .AGAIN) return false;
    _ = try check(rc);
    return true;
}

/// rename within *dir*, once (no retry: a tree in use stays where it is).
pub fn renameOnce(dir: Fd, old: [:0]const u8, new: [:0]const u8) Error!void {
    return rename(dir, old, new);
}

/// Bytes an unprivileged user may still write on the file system of *fd*; null if unknown.
pub fn freeBytes(fd: Fd) ?u64 {
    // struct statfs on 64-bit Linux (x86_64, aarch64): 15 words; f_bsize [1], f_bavail [4], f_frsize [9]
    var st: [15]u64 = @splat(0);
    const rc = linux.syscall2(.fstatfs, @as(usize, @bitCast(@as(isize, fd))), @intFromPtr(&st));
    if (linux.errno(rc) != .SUCCESS) return null;
    const unit = if (st[9] != 0) st[9] else st[1];
    return st[4] *| unit;
}

/// The absolute path of an open directory.
pub fn pathOfFd(fd: Fd, buf: []u8) Error![]u8 {
    var name_buf: [32]u8 = undefined;
    const name = std.fmt.bufPrintSentinel(&name_buf, "/proc/self/fd/{d}", .{fd}, 0) catch unreachable;
    const n = try check(linux.readlinkat(cwd, name, buf.ptr, buf.len));
    if (n >= buf.len) return fail(.NAMETOOLONG);
    return buf[0..n];
}

/// Iterates the names in a directory (without "." and "..").
pub const DirIterator = struct {
    fd: Fd,
    // Small: removeTree recurses with one iterator per directory level.
    buf: [2048]u8 align(8) = undefined,
    pos: usize = 0,
    end: usize = 0,

    pub const Entry = struct { name: [:0]const u8, kind: Kind };

    pub fn next(self: *DirIterator) Error!?Entry {
        while (true) {
            if (self.pos >= self.end) {
                self.end = try check(linux.getdents64(self.fd, &self.buf, self.buf.len));
                self.pos = 0;
                if (self.end == 0) return null;
            }
            const d: *align(1) linux.dirent64 = @ptrCast(&self.buf[self.pos]);
            self.pos += d.reclen;
            const name_ptr: [*:0]const u8 = @ptrCast(&self.buf[self.pos - d.reclen + @offsetOf(linux.dirent64, "name")]);
            const name = std.mem.span(name_ptr);
            if (std.mem.eql(u8, name, ".") or std.mem.eql(u8, name, "..")) continue;
            const kind: Kind = switch (d.type) {
                linux.DT.DIR => .dir,
                linux.DT.REG => .file,
                linux.DT.LNK => .symlink,
                else => .other, // DT_UNKNOWN too: removeTree falls back to trying both
            };
            return .{ .name = name, .kind = kind };
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
    return linux.getpid();
}

pub fn effectiveUid() u32 {
    return linux.geteuid();
}

/// False only if the process certainly does not exist (ESRCH).
pub fn pidAlive(pid: i32) bool {
    if (pid <= 0) return true;
    const rc = linux.kill(pid, @fromBackingInt(@intCast(0)));
    return linux.errno(rc) != .SRCH;
}

/// The process's umask, without changing it.
pub fn umask() u32 {
    const old: u32 = @intCast(linux.syscall1(.umask, 0o022));
    _ = linux.syscall1(.umask, old);
    return old;
}

pub fn randomBytes(buf: []u8) void {
    const rc = linux.getrandom(buf.ptr, buf.len, 0);
    if (linux.errno(rc) == .SUCCESS and rc == buf.len) return;
    // No getrandom (very old kernel): unique enough for a temp name next to our pid.
    var ts: linux.timespec = undefined;
    _ = linux.clock_gettime(.MONOTONIC, &ts);
    var seed: u64 = @as(u64, @bitCast(@as(i64, ts.nsec))) ^ (@as(u64, @intCast(getPid())) << 32);
    for (buf) |*b| {
        seed = seed *% 6364136223846793005 +% 1442695040888963407;
        b.* = @truncate(seed >> 56);
    }
}

/// CPUs this process may run on (honours taskset/cpusets).
pub fn cpuCount() usize {
    var set: linux.cpu_set_t = undefined;
    const rc = linux.sched_getaffinity(0, @sizeOf(linux.cpu_set_t), &set);
    if (linux.errno(rc) != .SUCCESS) return 1;
    return @max(1, linux.CPU_COUNT(set));
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
    return linux.errno(linux.execve(path, argv, envp));
}

pub fn writeStdout(data: []const u8) void {
    writeAll(1, data) catch {};
}

pub fn writeStderr(data: []const u8) void {
    writeAll(2, data) catch {};
}

pub fn exit(code: u8) noreturn {
    linux.exit_group(code);
}
