//! Everything the stub asks of the operating system, for Windows (x86_64).
//!
//! The same public declarations as sys_linux.zig, on the native NT API
//! (ntdll) where Linux uses `*at()` system calls: a directory handle is the
//! `RootDirectory` of an `NtCreateFile`, so every file of the runtime is
//! created relative to an open directory, one component at a time, exactly
//! like the Linux stub does with `openat`. `FILE_OPEN_REPARSE_POINT` plays
//! the part of `O_NOFOLLOW`. Process, console and environment calls use
//! kernel32's W functions.
//!
//! Strings are UTF-8 (WTF-8, so any Windows name survives) inside the stub and
//! UTF-16 only at this boundary. Failed calls return `error.Sys` and leave a
//! Win32 error code in a thread-local (`errno()`); NTSTATUS values are mapped
//! with `RtlNtStatusToDosError`.
//!
//! Differences from Linux (stubs/README.md, "Windows"): there is no `execve`,
//! so `exec` spawns the interpreter, waits and exits with its exit code;
//! symlinks are not created (`has_symlinks = false`: extract.zig copies the
//! target instead); file modes are ignored; there is no owner check on the
//! cache root (it is in the user's profile).

const std = @import("std");

pub const Fd = ?*anyopaque;
pub const Error = error{Sys};
pub const max_path = 4096;
/// Paths relative to the process (DOS paths: `C:\x`, `\\server\share\x`, `x\y`).
pub const cwd: Fd = null;
/// The separator the stub puts between path components it joins.
pub const sep = '\\';
/// Whether file and environment-variable names compare without regard to case.
pub const names_ignore_case = true;

/// The last component of a path as this OS splits it.
pub fn basename(path: []const u8) []const u8 {
    return std.fs.path.basenameWindows(path);
}
/// Symlinks need a privilege on Windows: extract.zig copies their targets instead.
pub const has_symlinks = false;
/// What to check when the stub cannot read its own file.
pub const self_read_hint = "check that the file is readable";
/// For an interpreter that may not run (ERROR_ACCESS_DENIED).
pub const exec_denied_hint = "if a security policy blocks programs in that directory, set BUNDLER_CACHE_DIR to a directory where programs may run.";

/// Win32 error codes (winerror.h); the names the portable code uses are POSIX-like.
pub const Errno = enum(u32) {
    SUCCESS = 0,
    FILE_NOT_FOUND = 2,
    PATH_NOT_FOUND = 3,
    ACCESS_DENIED = 5,
    NOT_ENOUGH_MEMORY = 8,
    HANDLE_DISK_FULL = 39,
    FILE_EXISTS = 80,
    SHARING_VIOLATION = 32,
    INVALID_PARAMETER = 87,
    DISK_FULL = 112,
    INVALID_NAME = 123,
    DIR_NOT_EMPTY = 145,
    /// ERROR_ALREADY_EXISTS
    EXIST = 183,
    FILENAME_EXCED_RANGE = 206,
    /// ERROR_DIRECTORY: "The directory name is invalid" (not a directory).
    DIRECTORY = 267,
    STOPPED_ON_SYMLINK = 681,
    ACCESS_DISABLED_BY_POLICY = 1260,
    DISK_QUOTA_EXCEEDED = 1295,
    _,
};

threadlocal var last_errno: Errno = .SUCCESS;

/// The Win32 error of the last failed call on this thread.
pub fn errno() Errno {
    return last_errno;
}

fn fail(e: Errno) Error {
    last_errno = e;
    return error.Sys;
}

fn failLast() Error {
    return fail(@fromBackingInt(@intCast(GetLastError())));
}

fn failStatus(status: NTSTATUS) Error {
    return fail(@fromBackingInt(@intCast(RtlNtStatusToDosError(status))));
}

pub fn isNoSpace(e: Errno) bool {
    return e == .DISK_FULL or e == .HANDLE_DISK_FULL or e == .DISK_QUOTA_EXCEEDED;
}

/// The object is in the way: it exists (or a directory is not empty).
pub fn isExists(e: Errno) bool {
    return e == .EXIST or e == .FILE_EXISTS or e == .DIR_NOT_EMPTY;
}

pub fn isNotPermitted(e: Errno) bool {
    return e == .ACCESS_DENIED or e == .ACCESS_DISABLED_BY_POLICY;
}

pub fn isNotFound(e: Errno) bool {
    return e == .FILE_NOT_FOUND or e == .PATH_NOT_FOUND;
}

/// A path component was a reparse point (symlink, junction) or not a directory.
pub fn isNotADirectory(e: Errno) bool {
    return e == .DIRECTORY or e == .STOPPED_ON_SYMLINK;
}

// A few rotating buffers: a message may name two errors.
threadlocal var text_bufs: [4][512]u8 = undefined;
threadlocal var text_next: usize = 0;

/// The system's text for a Win32 error, without the final period ("Access is denied").
pub fn errnoText(e: Errno) []const u8 {
    const out = &text_bufs[text_next];
    text_next = (text_next + 1) % text_bufs.len;
    var wide: [256]u16 = undefined;
    const flags = FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS | FORMAT_MESSAGE_MAX_WIDTH_MASK;
    const n = FormatMessageW(flags, null, @backingInt(e), 0, &wide, wide.len, null);
    if (n == 0) return std.fmt.bufPrint(out, "Windows error {d}", .{@backingInt(e)}) catch "Windows error";
    const len = std.unicode.wtf16LeToWtf8(out[0 .. out.len / 3 * 3], wide[0..@min(n, out.len / 3)]);
    return std.mem.trimEnd(u8, out[0..len], " .\r\n");
}

// ---------------------------------------------------------------- NUL-terminated names

/// A buffer for turning a slice into a NUL-terminated path.
pub const PathZ = struct {
    buf: [max_path + 1]u8 = undefined,

    pub fn of(self: *PathZ, s: []const u8) Error![:0]const u8 {
        if (s.len > max_path) return fail(.FILENAME_EXCED_RANGE);
        @memcpy(self.buf[0..s.len], s);
        self.buf[s.len] = 0;
        return self.buf[0..s.len :0];
    }
};

/// UTF-16 for an NT object name: relative to a directory handle (components
/// joined with `\`), or a DOS path turned into an NT path (`\??\C:\…`).
const NtName = struct {
    wide: [max_path + 1]u16 = undefined,
    ustr: UNICODE_STRING = undefined,
    /// Allocated by RtlDosPathNameToNtPathName_U for a DOS path.
    dos: bool = false,

    fn init(self: *NtName, dir: Fd, name: []const u8) Error!*UNICODE_STRING {
        if (name.len == 0) return fail(.INVALID_NAME);
        const n = std.os.windows.wtf8ToWtf16Le(self.wide[0..max_path], name) catch |e| return fail(switch (e) {
            error.NameTooLong => .FILENAME_EXCED_RANGE,
            error.BadPathName => .INVALID_NAME,
        });
        for (self.wide[0..n]) |*c| if (c.* == '/') {
            c.* = '\\';
        };
        self.wide[n] = 0;
        if (dir == null) {
            if (RtlDosPathNameToNtPathName_U(@ptrCast(&self.wide), &self.ustr, null, null) == 0) return fail(.INVALID_NAME);
            self.dos = true;
        } else {
            // Relative to a handle NT takes the name literally (`..` is no
            // parent there); refuse a drive or stream (`a:b`) and a leading `\`.
            if (std.mem.indexOfScalar(u16, self.wide[0..n], ':') != null) return fail(.INVALID_NAME);
            if (self.wide[0] == '\\') return fail(.INVALID_NAME);
            self.ustr = .{ .Length = @intCast(n * 2), .MaximumLength = @intCast(n * 2), .Buffer = &self.wide };
        }
        return &self.ustr;
    }

    fn deinit(self: *NtName) void {
        if (self.dos) RtlFreeUnicodeString(&self.ustr);
        self.dos = false;
    }
};

const OpenOptions = struct {
    access: u32,
    disposition: u32 = FILE_OPEN,
    options: u32,
    attributes: u32 = 0,
};

/// NtCreateFile of *name* relative to *dir* (or a DOS path when dir is `cwd`).
fn ntOpen(dir: Fd, name: []const u8, o: OpenOptions) Error!*anyopaque {
    var nt: NtName = .{};
    const ustr = try nt.init(dir, name);
    defer nt.deinit();
    var attr: OBJECT_ATTRIBUTES = .{
        .Length = @sizeOf(OBJECT_ATTRIBUTES),
        .RootDirectory = dir,
        .ObjectName = ustr,
        .Attributes = OBJ_CASE_INSENSITIVE,
        .SecurityDescriptor = null,
        .SecurityQualityOfService = null,
    };
    var io: IO_STATUS_BLOCK = undefined;
    var handle: ?*anyopaque = null;
    const status = NtCreateFile(&handle, o.access | SYNCHRONIZE, &attr, &io, null, o.attributes, FILE_SHARE_ALL, o.disposition, o.options | FILE_SYNCHRONOUS_IO_NONALERT, null, 0);
    if (status != STATUS_SUCCESS) return failStatus(status);
    return handle.?;
}

// ---------------------------------------------------------------- files

pub fn close(fd: Fd) void {
    if (fd) |h| _ = NtClose(h);
}

pub fn openRead(path: [:0]const u8) Error!Fd {
    return ntOpen(cwd, path, .{ .access = GENERIC_READ, .options = FILE_NON_DIRECTORY_FILE });
}

/// Opens a file relative to *dir* for reading, without following a reparse point.
pub fn openReadAt(dir: Fd, name: [:0]const u8) Error!Fd {
    return ntOpen(dir, name, .{ .access = GENERIC_READ, .options = FILE_NON_DIRECTORY_FILE | FILE_OPEN_REPARSE_POINT });
}

/// The absolute path of the running program (symlinks and junctions resolved).
pub fn selfPath(buf: []u8) Error![]u8 {
    var wide: [max_path + 1]u16 = undefined;
    const n = GetModuleFileNameW(null, &wide, max_path);
    if (n == 0) return failLast();
    if (n >= max_path) return fail(.FILENAME_EXCED_RANGE);
    var name: [max_path * 3]u8 = undefined;
    const len = std.unicode.wtf16LeToWtf8(&name, wide[0..n]);
    // The final path of the file itself, else the module name as the loader has it.
    if (ntOpen(cwd, name[0..len], .{ .access = FILE_READ_ATTRIBUTES, .options = FILE_NON_DIRECTORY_FILE })) |h| {
        defer close(h);
        if (pathOfFd(h, buf)) |p| return p else |_| {}
    } else |_| {}
    const plain = stripVerbatim(name[0..len]);
    if (plain.len > buf.len) return fail(.FILENAME_EXCED_RANGE);
    @memcpy(buf[0..plain.len], plain);
    return buf[0..plain.len];
}

/// `\\?\C:\x` → `C:\x`, `\\?\UNC\server\share` → `\\server\share` (in place).
fn stripVerbatim(p: []u8) []u8 {
    if (std.mem.startsWith(u8, p, "\\\\?\\UNC\\")) {
        const rest = p[6..];
        rest[0] = '\\';
        return rest;
    }
    if (std.mem.startsWith(u8, p, "\\\\?\\")) return p[4..];
    return p;
}

pub fn fileSize(fd: Fd) Error!u64 {
    var info: FILE_STANDARD_INFORMATION = undefined;
    var io: IO_STATUS_BLOCK = undefined;
    const status = NtQueryInformationFile(fd.?, &io, &info, @sizeOf(FILE_STANDARD_INFORMATION), FileStandardInformation);
    if (status != STATUS_SUCCESS) return failStatus(status);
    return @intCast(info.EndOfFile);
}

/// Reads until *buf* is full or the file ends; returns the bytes read.
pub fn preadAll(fd: Fd, buf: []u8, offset: u64) Error!usize {
    var done: usize = 0;
    while (done < buf.len) {
        var io: IO_STATUS_BLOCK = undefined;
        const at: i64 = @intCast(offset + done);
        const want: u32 = @intCast(@min(buf.len - done, 1 << 30));
        const status = NtReadFile(fd.?, null, null, null, &io, buf.ptr + done, want, &at, null);
        if (status == STATUS_END_OF_FILE) break;
        if (status != STATUS_SUCCESS) return failStatus(status);
        if (io.Information == 0) break;
        done += io.Information;
    }
    return done;
}

pub fn writeAll(fd: Fd, data: []const u8) Error!void {
    var done: usize = 0;
    while (done < data.len) {
        var io: IO_STATUS_BLOCK = undefined;
        const want: u32 = @intCast(@min(data.len - done, 1 << 30));
        const status = NtWriteFile(fd.?, null, null, null, &io, data.ptr + done, want, null, null);
        if (status != STATUS_SUCCESS) return failStatus(status);
        if (io.Information == 0) return fail(.DISK_FULL);
        done += io.Information;
    }
}

/// Creates a new regular file; never follows a reparse point, never reuses a file.
/// The mode is ignored (Windows has no exec bits).
pub fn createFile(dir: Fd, name: [:0]const u8, mode: u32) Error!Fd {
    _ = mode;
    return ntOpen(dir, name, .{
        .access = GENERIC_WRITE,
        .disposition = FILE_CREATE,
        .options = FILE_NON_DIRECTORY_FILE | FILE_OPEN_REPARSE_POINT,
        .attributes = FILE_ATTRIBUTE_NORMAL,
    });
}

/// File modes do not exist on Windows.
pub fn setMode(fd: Fd, mode: u32) Error!void {
    _ = fd;
    _ = mode;
}

// ---------------------------------------------------------------- directories

const dir_access = FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_READ_ATTRIBUTES;

/// Opens a directory without following a reparse point in its last component.
pub fn openDir(dir: Fd, name: [:0]const u8) Error!Fd {
    const h = try ntOpen(dir, name, .{ .access = dir_access, .options = FILE_DIRECTORY_FILE | FILE_OPEN_REPARSE_POINT });
    const attrs = attributesOf(h) catch |e| {
        close(h);
        return e;
    };
    if (attrs & FILE_ATTRIBUTE_REPARSE_POINT != 0) {
        close(h);
        return fail(.STOPPED_ON_SYMLINK);
    }
    return h;
}

/// Opens a directory by a path the user gave (reparse points followed).
pub fn openDirFollow(path: [:0]const u8) Error!Fd {
    return ntOpen(cwd, path, .{ .access = dir_access, .options = FILE_DIRECTORY_FILE });
}

pub fn makeDir(dir: Fd, name: [:0]const u8, mode: u32) Error!void {
    _ = mode;
    const h = try ntOpen(dir, name, .{ .access = FILE_LIST_DIRECTORY, .disposition = FILE_CREATE, .options = FILE_DIRECTORY_FILE });
    close(h);
}

fn isSep(c: u8) bool {
    return c == '/' or c == '\\';
}

/// `mkdir -p`: creates every missing directory of *path*.
pub fn makePath(path: [:0]const u8, mode: u32) Error!void {
    if (makeDir(cwd, path, mode)) return else |_| if (isExists(errno())) return;
    var z: PathZ = .{};
    const copy = try z.of(path);
    const bytes: [*]u8 = @constCast(copy.ptr);
    // Creating "C:" or "\\server" fails harmlessly, like "/" on Linux.
    for (1..copy.len) |i| {
        if (!isSep(bytes[i]) or isSep(bytes[i - 1])) continue;
        const c = bytes[i];
        bytes[i] = 0;
        makeDir(cwd, @ptrCast(bytes[0..i :0]), mode) catch {};
        bytes[i] = c;
    }
    makeDir(cwd, path, mode) catch if (!isExists(errno())) return error.Sys;
}

/// FileRenameInformation within one directory; fails with EXIST if *new* exists.
/// A virus scanner that still holds a new file open makes a rename fail for a
/// moment (access denied, sharing violation): retried for up to 3 seconds.
pub fn rename(dir: Fd, old: [:0]const u8, new: [:0]const u8) Error!void {
    var tries: usize = 0;
    while (true) : (tries += 1) {
        renameOnce(dir, old, new) catch |e| {
            const code = errno();
            if (tries < 30 and (code == .ACCESS_DENIED or code == .SHARING_VIOLATION)) {
                Sleep(100);
                continue;
            }
            return e;
        };
        return;
    }
}

/// rename within *dir*, once (no retry: a tree in use stays where it is).
pub fn renameOnce(dir: Fd, old: [:0]const u8, new: [:0]const u8) Error!void {
    const h = try ntOpen(dir, old, .{ .access = DELETE, .options = FILE_OPEN_REPARSE_POINT });
    defer close(h);
    return setName(h, dir, new, FileRenameInformation);
}

/// Gives the open file *h* the name *name* relative to *dir*, never replacing a file:
/// FileRenameInformation (moves it) or FileLinkInformation (a second name); the two
/// structures have the same layout.
fn setName(h: *anyopaque, dir: Fd, name: [:0]const u8, class: u32) Error!void {
    var info: extern struct {
        flags: u32 = 0, // ReplaceIfExists = FALSE
        root: ?*anyopaque,
        name_len: u32,
        name: [max_path]u16 align(2),
    } = .{ .root = dir, .name_len = 0, .name = undefined };
    const n = std.os.windows.wtf8ToWtf16Le(&info.name, name) catch return fail(.INVALID_NAME);
    info.name_len = @intCast(n * 2);
    var io: IO_STATUS_BLOCK = undefined;
    const size: u32 = @intCast(@offsetOf(@TypeOf(info), "name") + n * 2);
    const status = NtSetInformationFile(h, &io, &info, size, class);
    if (status != STATUS_SUCCESS) return failStatus(status);
}

/// Whether `hardLink` can work here (layers shared between trees, stubs/layers.zig): NTFS
/// links files without a privilege (FAT and some network shares refuse, and the layer is
/// unpacked instead).
pub const has_hard_links = true;

/// A second name *to* in *to_dir* for the file *from* in *from_dir* (FileLinkInformation,
/// relative to the directory handle, as `renameOnce`); fails with EXIST if *to* exists.
pub fn hardLink(from_dir: Fd, from: [:0]const u8, to_dir: Fd, to: [:0]const u8) Error!void {
    const h = try ntOpen(from_dir, from, .{ .access = FILE_WRITE_ATTRIBUTES, .options = FILE_NON_DIRECTORY_FILE | FILE_OPEN_REPARSE_POINT });
    defer close(h);
    return setName(h, to_dir, to, FileLinkInformation);
}

/// Marks an open handle (opened with DELETE) for deletion; the name goes at once
/// where the file system has POSIX semantics, else when the last handle closes.
fn deleteHandle(h: *anyopaque) Error!void {
    var io: IO_STATUS_BLOCK = undefined;
    var ex: u32 = FILE_DISPOSITION_DELETE | FILE_DISPOSITION_POSIX_SEMANTICS | FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE;
    const status = NtSetInformationFile(h, &io, &ex, @sizeOf(u32), FileDispositionInformationEx);
    switch (status) {
        STATUS_SUCCESS => return,
        STATUS_INVALID_PARAMETER, STATUS_NOT_IMPLEMENTED, STATUS_INVALID_INFO_CLASS, STATUS_NOT_SUPPORTED => {},
        else => return failStatus(status),
    }
    var del: u8 = 1; // FILE_DISPOSITION_INFORMATION.DeleteFile
    const plain = NtSetInformationFile(h, &io, &del, 1, FileDispositionInformation);
    if (plain != STATUS_SUCCESS) return failStatus(plain);
}

pub fn removeEntry(dir: Fd, name: [:0]const u8, is_dir: bool) Error!void {
    const kind_option: u32 = if (is_dir) FILE_DIRECTORY_FILE else FILE_NON_DIRECTORY_FILE;
    const h = try ntOpen(dir, name, .{ .access = DELETE, .options = kind_option | FILE_OPEN_REPARSE_POINT });
    defer close(h);
    try deleteHandle(h);
}

pub const Kind = enum { dir, file, symlink, other };

pub const Stat = struct { kind: Kind, uid: u32, mode: u32 };

fn attributesOf(h: Fd) Error!u32 {
    var info: FILE_BASIC_INFORMATION = undefined;
    var io: IO_STATUS_BLOCK = undefined;
    const status = NtQueryInformationFile(h.?, &io, &info, @sizeOf(FILE_BASIC_INFORMATION), FileBasicInformation);
    if (status != STATUS_SUCCESS) return failStatus(status);
    return info.FileAttributes;
}

fn kindOf(attrs: u32) Kind {
    if (attrs & FILE_ATTRIBUTE_REPARSE_POINT != 0) return .symlink;
    if (attrs & FILE_ATTRIBUTE_DIRECTORY != 0) return .dir;
    return .file;
}

/// Windows has no uid and no mode bits: uid 0 (like effectiveUid) and 0o755/0o644.
fn statOf(attrs: u32) Stat {
    const kind = kindOf(attrs);
    return .{ .kind = kind, .uid = 0, .mode = if (kind == .file) 0o644 else 0o755 };
}

/// stat (follow) or lstat of *name* relative to *dir* (`cwd` for a path).
pub fn statAt(dir: Fd, name: [:0]const u8, follow: bool) Error!Stat {
    const h = try ntOpen(dir, name, .{ .access = FILE_READ_ATTRIBUTES, .options = if (follow) 0 else FILE_OPEN_REPARSE_POINT });
    defer close(h);
    return statOf(try attributesOf(h));
}

pub fn statFd(fd: Fd) Error!Stat {
    return statOf(try attributesOf(fd));
}

/// The size in bytes, the modification time (ns since the epoch) and the number of names of
/// *name* in *dir*, not following a reparse point.
pub fn sizeAndTime(dir: Fd, name: [:0]const u8) Error!SizeAndTime {
    const h: Fd = try ntOpen(dir, name, .{ .access = FILE_READ_ATTRIBUTES, .options = FILE_OPEN_REPARSE_POINT });
    defer close(h);
    var info: FILE_BASIC_INFORMATION = undefined;
    var io: IO_STATUS_BLOCK = undefined;
    const status = NtQueryInformationFile(h.?, &io, &info, @sizeOf(FILE_BASIC_INFORMATION), FileBasicInformation);
    if (status != STATUS_SUCCESS) return failStatus(status);
    var std_info: FILE_STANDARD_INFORMATION = undefined;
    const std_status = NtQueryInformationFile(h.?, &io, &std_info, @sizeOf(FILE_STANDARD_INFORMATION), FileStandardInformation);
    if (std_status != STATUS_SUCCESS) return failStatus(std_status);
    const is_dir = info.FileAttributes & FILE_ATTRIBUTE_DIRECTORY != 0;
    // 100 ns intervals since 1601-01-01
    return .{
        .size = if (is_dir) 0 else @intCast(std_info.EndOfFile),
        .mtime = (@as(i128, info.LastWriteTime) - 116444736000000000) * 100,
        .links = std_info.NumberOfLinks,
    };
}

/// Size, modification time (ns since 1970) and number of names (hard links) of a file.
pub const SizeAndTime = struct { size: u64, mtime: i128, links: u64 };

// ---------------------------------------------------------------- the in-use lock

/// Whether a lock on a descriptor is what keeps a tree in use in place (Windows: open files do).
pub const locks_by_descriptor = false;

/// Opens *name* in *dir* and keeps it open: the stub waits for the interpreter, so the handle
/// lives as long as the runtime runs. Windows refuses to rename a directory with a file open in
/// it, which is what keeps a tree in use in place (tryLockExclusive has nothing more to add).
pub fn openLock(dir: Fd, name: [:0]const u8, inherit: bool) Error!Fd {
    _ = inherit;
    return openReadAt(dir, name);
}

pub fn lockShared(fd: Fd) Error!void {
    _ = fd;
}

pub fn tryLockExclusive(fd: Fd) Error!bool {
    _ = fd;
    return true;
}

/// Bytes the current user may still write on the volume of *fd*; null if unknown.
pub fn freeBytes(fd: Fd) ?u64 {
    var wide: [max_path + 1]u16 = undefined;
    const n = GetFinalPathNameByHandleW(fd.?, &wide, max_path, 0);
    if (n == 0 or n >= max_path) return null;
    wide[n] = 0;
    var free: u64 = 0;
    if (GetDiskFreeSpaceExW(@ptrCast(&wide), &free, null, null) == 0) return null;
    return free;
}

/// The absolute path of an open directory or file (`C:\…`, `\\server\share\…`).
pub fn pathOfFd(fd: Fd, buf: []u8) Error![]u8 {
    var wide: [max_path + 1]u16 = undefined;
    const n = GetFinalPathNameByHandleW(fd.?, &wide, max_path, 0);
    if (n == 0) return failLast();
    if (n >= max_path or n * 3 > buf.len) return fail(.FILENAME_EXCED_RANGE);
    const len = std.unicode.wtf16LeToWtf8(buf, wide[0..n]);
    const plain = stripVerbatim(buf[0..len]);
    std.mem.copyForwards(u8, buf[0..plain.len], plain);
    return buf[0..plain.len];
}

/// Iterates the names in a directory (without "." and "..").
pub const DirIterator = struct {
    fd: Fd,
    // Small: removeTree recurses with one iterator per directory level.
    buf: [2048]u8 align(8) = undefined,
    pos: usize = 0,
    end: usize = 0,
    started: bool = false,
    done: bool = false,
    name: [255 * 3 + 1]u8 = undefined,

    pub const Entry = struct { name: [:0]const u8, kind: Kind };

    pub fn next(self: *DirIterator) Error!?Entry {
        while (true) {
            if (self.pos >= self.end) {
                if (self.done) return null;
                var io: IO_STATUS_BLOCK = undefined;
                const status = NtQueryDirectoryFile(self.fd.?, null, null, null, &io, &self.buf, self.buf.len, FileDirectoryInformation, 0, null, @intFromBool(!self.started));
                self.started = true;
                if (status == STATUS_NO_MORE_FILES) {
                    self.done = true;
                    return null;
                }
                if (status != STATUS_SUCCESS) return failStatus(status);
                self.pos = 0;
                self.end = io.Information;
                if (self.end == 0) {
                    self.done = true;
                    return null;
                }
            }
            const info: *align(1) const FILE_DIRECTORY_INFORMATION = @ptrCast(&self.buf[self.pos]);
            const name_ptr: [*]align(1) const u16 = @ptrCast(&self.buf[self.pos + @offsetOf(FILE_DIRECTORY_INFORMATION, "FileName")]);
            var wide: [255]u16 = undefined;
            const units = @min(info.FileNameLength / 2, wide.len);
            for (wide[0..units], 0..) |*c, i| c.* = name_ptr[i];
            const attrs = info.FileAttributes;
            self.pos = if (info.NextEntryOffset == 0) self.end else self.pos + info.NextEntryOffset;
            const name = wide[0..units];
            if (std.mem.eql(u16, name, &.{'.'}) or std.mem.eql(u16, name, &.{ '.', '.' })) continue;
            const len = std.unicode.wtf16LeToWtf8(&self.name, name);
            self.name[len] = 0;
            return .{ .name = self.name[0..len :0], .kind = kindOf(attrs) };
        }
    }
};

/// `rm -rf dir/name` without following reparse points; a missing tree is not an error.
pub fn removeTree(dir: Fd, name: [:0]const u8) Error!void {
    const h = ntOpen(dir, name, .{ .access = DELETE | FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES, .options = FILE_OPEN_REPARSE_POINT }) catch {
        if (isNotFound(errno())) return;
        return error.Sys;
    };
    defer close(h);
    const attrs = try attributesOf(h);
    if (kindOf(attrs) == .dir) try removeContents(h);
    try deleteHandle(h);
}

/// Empties an open directory (`rm -rf dir/*`), without following reparse points.
pub fn removeContents(fd: Fd) Error!void {
    var it: DirIterator = .{ .fd = fd };
    while (try it.next()) |entry| try removeTree(fd, entry.name);
}

// ---------------------------------------------------------------- processes

pub fn getPid() i32 {
    return @bitCast(GetCurrentProcessId());
}

/// Windows has no uid; the cache root is in the user's own profile.
pub fn effectiveUid() u32 {
    return 0;
}

/// False only if the process certainly does not exist (or has exited).
pub fn pidAlive(pid: i32) bool {
    if (pid <= 0) return true;
    const h = OpenProcess(SYNCHRONIZE, 0, @bitCast(pid)) orelse
        return GetLastError() != @backingInt(Errno.INVALID_PARAMETER);
    defer _ = CloseHandle(h);
    return WaitForSingleObject(h, 0) != WAIT_OBJECT_0;
}

/// Modes are ignored on Windows.
pub fn umask() u32 {
    return 0;
}

pub fn randomBytes(buf: []u8) void {
    if (SystemFunction036(buf.ptr, @intCast(buf.len)) != 0) return;
    // No RtlGenRandom: unique enough for a temp name next to our pid.
    var counter: i64 = 0;
    _ = QueryPerformanceCounter(&counter);
    var seed: u64 = @as(u64, @bitCast(counter)) ^ (@as(u64, GetCurrentProcessId()) << 32);
    for (buf) |*b| {
        seed = seed *% 6364136223846793005 +% 1442695040888963407;
        b.* = @truncate(seed >> 56);
    }
}

/// CPUs this process may run on (its affinity mask).
pub fn cpuCount() usize {
    var process_mask: usize = 0;
    var system_mask: usize = 0;
    if (GetProcessAffinityMask(GetCurrentProcess(), &process_mask, &system_mask) == 0) return 1;
    return @max(1, @popCount(process_mask));
}

// ---------------------------------------------------------------- arguments and environment

/// The arguments, split from the UTF-16 command line by the C runtime's rules, as WTF-8.
pub fn processArgs(init: std.process.Init.Minimal, gpa: std.mem.Allocator) error{OutOfMemory}![]const [*:0]const u8 {
    const slices = init.args.toSlice(gpa) catch return error.OutOfMemory;
    const out = try gpa.alloc([*:0]const u8, slices.len);
    for (slices, out) |s, *o| o.* = s.ptr;
    return out;
}

/// The environment block (GetEnvironmentStringsW) as WTF-8 "NAME=value" strings.
pub fn processEnv(init: std.process.Init.Minimal, gpa: std.mem.Allocator) error{OutOfMemory}![]const [*:0]const u8 {
    _ = init;
    const block = GetEnvironmentStringsW() orelse return &.{};
    defer _ = FreeEnvironmentStringsW(block);
    var out: std.ArrayList([*:0]const u8) = .empty;
    var i: usize = 0;
    while (block[i] != 0) {
        const start = i;
        while (block[i] != 0) i += 1;
        try out.append(gpa, try std.unicode.wtf16LeToWtf8AllocZ(gpa, block[start..i]));
        i += 1;
    }
    return out.items;
}

// ---------------------------------------------------------------- starting the interpreter

/// Appends *arg* quoted for the Microsoft C runtime's parser (CommandLineToArgvW
/// and the CRT agree on this form): unchanged if it needs no quoting, else in
/// double quotes with `"` escaped and backslashes doubled where they precede a quote.
pub fn appendQuoted(gpa: std.mem.Allocator, out: *std.ArrayList(u8), arg: []const u8) error{OutOfMemory}!void {
    if (arg.len > 0 and std.mem.indexOfAny(u8, arg, " \t\n\x0b\"") == null) return out.appendSlice(gpa, arg);
    try out.append(gpa, '"');
    var backslashes: usize = 0;
    for (arg) |c| {
        if (c == '\\') {
            backslashes += 1;
            continue;
        }
        if (c == '"') {
            try out.appendNTimes(gpa, '\\', backslashes * 2 + 1);
        } else {
            try out.appendNTimes(gpa, '\\', backslashes);
        }
        backslashes = 0;
        try out.append(gpa, c);
    }
    try out.appendNTimes(gpa, '\\', backslashes * 2);
    try out.append(gpa, '"');
}

/// The command line for argv (WTF-8): the program in plain quotes (argv[0] has
/// no escapes in the C runtime's rules; a Windows path cannot contain `"`),
/// then each argument quoted as needed.
pub fn commandLine(gpa: std.mem.Allocator, argv: []const [*:0]const u8) error{OutOfMemory}![]u8 {
    var out: std.ArrayList(u8) = .empty;
    for (argv, 0..) |a, i| {
        const arg = std.mem.span(a);
        if (i == 0) {
            try out.append(gpa, '"');
            try out.appendSlice(gpa, arg);
            try out.append(gpa, '"');
            continue;
        }
        try out.append(gpa, ' ');
        try appendQuoted(gpa, &out, arg);
    }
    return out.items;
}

fn envNameLessThan(_: void, a: []const u8, b: []const u8) bool {
    return std.ascii.lessThanIgnoreCase(envName(a), envName(b));
}

/// The name of "NAME=value"; Windows' hidden "=C:=C:\dir" entries start with '='.
fn envName(entry: []const u8) []const u8 {
    const eq = std.mem.indexOfScalarPos(u8, entry, @min(1, entry.len), '=') orelse return entry;
    return entry[0..eq];
}

/// A UTF-16 environment block, sorted by name case-insensitively as CreateProcessW expects.
fn environmentBlock(gpa: std.mem.Allocator, envp: [*:null]const ?[*:0]const u8) error{OutOfMemory}![:0]u16 {
    var entries: std.ArrayList([]const u8) = .empty;
    var i: usize = 0;
    while (envp[i]) |e| : (i += 1) try entries.append(gpa, std.mem.span(e));
    std.mem.sort([]const u8, entries.items, {}, envNameLessThan);
    var block: std.ArrayList(u16) = .empty;
    for (entries.items) |e| {
        const w = std.unicode.wtf8ToWtf16LeAlloc(gpa, e) catch |err| switch (err) {
            error.OutOfMemory => return error.OutOfMemory,
            error.InvalidWtf8 => continue, // cannot come from the W environment
        };
        try block.appendSlice(gpa, w);
        try block.append(gpa, 0);
    }
    if (entries.items.len == 0) try block.append(gpa, 0);
    try block.append(gpa, 0);
    return block.items[0 .. block.items.len - 1 :0];
}

/// The parent only waits: console control events (Ctrl-C, Ctrl-Break, close)
/// go to every process of the console, and the interpreter handles them.
fn ignoreControlEvent(event: u32) callconv(.winapi) i32 {
    _ = event;
    return 1;
}

/// Windows has no execve: starts *path* with *argv* and *envp* (inheriting the
/// console and the standard handles), waits for it and exits with its exit
/// code. Returns only if the interpreter could not be started.
pub fn exec(path: [*:0]const u8, argv: [*:null]const ?[*:0]const u8, envp: [*:null]const ?[*:0]const u8) Errno {
    const gpa = std.heap.c_allocator;
    var n: usize = 0;
    while (argv[n] != null) n += 1;
    const line = commandLine(gpa, @ptrCast(argv[0..n])) catch return .NOT_ENOUGH_MEMORY;
    const line_w = std.unicode.wtf8ToWtf16LeAllocZ(gpa, line) catch return .NOT_ENOUGH_MEMORY;
    const app_w = std.unicode.wtf8ToWtf16LeAllocZ(gpa, std.mem.span(path)) catch return .INVALID_NAME;
    const env_w = environmentBlock(gpa, envp) catch return .NOT_ENOUGH_MEMORY;

    var si: STARTUPINFOW = std.mem.zeroes(STARTUPINFOW);
    si.cb = @sizeOf(STARTUPINFOW);
    GetStartupInfoW(&si);
    si.lpReserved = null;
    si.cbReserved2 = 0; // the C runtime's fd table is ours, not Python's
    si.lpReserved2 = null;
    si.dwFlags |= STARTF_USESTDHANDLES;
    si.hStdInput = inheritable(STD_INPUT_HANDLE);
    si.hStdOutput = inheritable(STD_OUTPUT_HANDLE);
    si.hStdError = inheritable(STD_ERROR_HANDLE);

    _ = SetConsoleCtrlHandler(&ignoreControlEvent, 1);
    // The GUI stub has no console: a console interpreter (python.exe) gets a
    // hidden one instead of a new console window. The console stub's
    // interpreter shares the stub's console.
    var flags: u32 = CREATE_UNICODE_ENVIRONMENT | CREATE_SUSPENDED;
    if (isGuiSubsystem()) flags |= CREATE_NO_WINDOW;
    var pi: PROCESS_INFORMATION = undefined;
    if (CreateProcessW(app_w.ptr, line_w.ptr, null, null, 1, flags, env_w.ptr, null, &si, &pi) == 0)
        return @fromBackingInt(@intCast(GetLastError()));
    // Best effort: in a job that kills it when the stub is killed (its
    // children may leave the job), like the py.exe launcher.
    if (CreateJobObjectW(null, null)) |job| {
        var limits = std.mem.zeroes(JOBOBJECT_EXTENDED_LIMIT_INFORMATION);
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
        if (SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, @sizeOf(JOBOBJECT_EXTENDED_LIMIT_INFORMATION)) != 0)
            _ = AssignProcessToJobObject(job, pi.hProcess);
    }
    _ = ResumeThread(pi.hThread);
    _ = CloseHandle(pi.hThread);
    _ = WaitForSingleObject(pi.hProcess, INFINITE);
    var code: u32 = 1;
    if (GetExitCodeProcess(pi.hProcess, &code) == 0) code = 1;
    ExitProcess(code);
}

/// The standard handle *which*, made inheritable so the interpreter gets it (null if none).
fn inheritable(which: u32) ?*anyopaque {
    const h = GetStdHandle(which) orelse return null;
    if (h == INVALID_HANDLE_VALUE) return null;
    _ = SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    return h;
}

// ---------------------------------------------------------------- output and exit

fn writeHandle(which: u32, data: []const u8) void {
    const h = GetStdHandle(which) orelse return;
    if (h == INVALID_HANDLE_VALUE or data.len == 0) return;
    var mode: u32 = 0;
    if (GetConsoleMode(h, &mode) != 0) {
        // A console shows UTF-16; bytes would go through the console code page.
        var wide: [4096]u16 = undefined;
        var rest = data;
        while (rest.len > 0) {
            var take = @min(rest.len, wide.len);
            while (take < rest.len and take > 0 and rest[take] & 0xC0 == 0x80) take -= 1; // whole code points
            const n = std.unicode.wtf8ToWtf16Le(&wide, rest[0..take]) catch return;
            var written: u32 = 0;
            if (WriteConsoleW(h, &wide, @intCast(n), &written, null) == 0) return;
            rest = rest[take..];
        }
        return;
    }
    var done: usize = 0;
    while (done < data.len) {
        var written: u32 = 0;
        if (WriteFile(h, data.ptr + done, @intCast(@min(data.len - done, 1 << 30)), &written, null) == 0 or written == 0) return;
        done += written;
    }
}

pub fn writeStdout(data: []const u8) void {
    writeHandle(STD_OUTPUT_HANDLE, data);
}

pub fn writeStderr(data: []const u8) void {
    writeHandle(STD_ERROR_HANDLE, data);
}

/// True for the GUI variant of the stub (linked with `--subsystem windows`):
/// the Subsystem field of our own PE optional header.
pub fn isGuiSubsystem() bool {
    const base: [*]const u8 = @ptrCast(GetModuleHandleW(null) orelse return false);
    const pe = std.mem.readInt(u32, base[0x3c..][0..4], .little);
    const subsystem = std.mem.readInt(u16, base[pe + 4 + 20 + 68 ..][0..2], .little);
    return subsystem == IMAGE_SUBSYSTEM_WINDOWS_GUI;
}

/// A failure of the GUI stub: nobody may see stderr, so a message box says it too.
pub fn alert(title: []const u8, message: []const u8) void {
    if (!isGuiSubsystem()) return;
    const gpa = std.heap.c_allocator;
    const text = std.unicode.wtf8ToWtf16LeAllocZ(gpa, std.mem.trimEnd(u8, message, "\n")) catch return;
    const caption = std.unicode.wtf8ToWtf16LeAllocZ(gpa, title) catch return;
    // user32 is loaded only here: the console stub never needs it.
    const user32 = LoadLibraryW(std.unicode.wtf8ToWtf16LeStringLiteral("user32.dll")) orelse return;
    const proc = GetProcAddress(user32, "MessageBoxW") orelse return;
    const messageBox: *const fn (?*anyopaque, [*:0]const u16, [*:0]const u16, u32) callconv(WINAPI) i32 = @ptrCast(proc);
    _ = messageBox(null, text.ptr, caption.ptr, MB_OK | MB_ICONERROR | MB_SETFOREGROUND);
}

pub fn exit(code: u8) noreturn {
    ExitProcess(code);
}

// ---------------------------------------------------------------- Windows declarations

const NTSTATUS = u32;
const STATUS_SUCCESS: NTSTATUS = 0;
const STATUS_NO_MORE_FILES: NTSTATUS = 0x80000006;
const STATUS_NOT_IMPLEMENTED: NTSTATUS = 0xC0000002;
const STATUS_INVALID_INFO_CLASS: NTSTATUS = 0xC0000003;
const STATUS_INVALID_PARAMETER: NTSTATUS = 0xC000000D;
const STATUS_END_OF_FILE: NTSTATUS = 0xC0000011;
const STATUS_NOT_SUPPORTED: NTSTATUS = 0xC00000BB;

const GENERIC_READ: u32 = 0x80000000;
const GENERIC_WRITE: u32 = 0x40000000;
const DELETE: u32 = 0x00010000;
const SYNCHRONIZE: u32 = 0x00100000;
const FILE_LIST_DIRECTORY: u32 = 0x0001;
const FILE_TRAVERSE: u32 = 0x0020;
const FILE_READ_ATTRIBUTES: u32 = 0x0080;
const FILE_WRITE_ATTRIBUTES: u32 = 0x0100;
const FILE_SHARE_ALL: u32 = 0x1 | 0x2 | 0x4; // read, write, delete: never in another process's way
const FILE_OPEN: u32 = 1;
const FILE_CREATE: u32 = 2;
const FILE_DIRECTORY_FILE: u32 = 0x00000001;
const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x00000020;
const FILE_NON_DIRECTORY_FILE: u32 = 0x00000040;
const FILE_OPEN_REPARSE_POINT: u32 = 0x00200000;
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const OBJ_CASE_INSENSITIVE: u32 = 0x40;
const FILE_DISPOSITION_DELETE: u32 = 0x1;
const FILE_DISPOSITION_POSIX_SEMANTICS: u32 = 0x2;
const FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE: u32 = 0x10;

const FileDirectoryInformation: u32 = 1;
const FileBasicInformation: u32 = 4;
const FileStandardInformation: u32 = 5;
const FileRenameInformation: u32 = 10;
const FileLinkInformation: u32 = 11;
const FileDispositionInformation: u32 = 13;
const FileDispositionInformationEx: u32 = 64;

const FORMAT_MESSAGE_IGNORE_INSERTS: u32 = 0x200;
const FORMAT_MESSAGE_FROM_SYSTEM: u32 = 0x1000;
const FORMAT_MESSAGE_MAX_WIDTH_MASK: u32 = 0xFF;
const STD_INPUT_HANDLE: u32 = @bitCast(@as(i32, -10));
const STD_OUTPUT_HANDLE: u32 = @bitCast(@as(i32, -11));
const STD_ERROR_HANDLE: u32 = @bitCast(@as(i32, -12));
const INVALID_HANDLE_VALUE: *anyopaque = @ptrFromInt(std.math.maxInt(usize));
const HANDLE_FLAG_INHERIT: u32 = 1;
const STARTF_USESTDHANDLES: u32 = 0x100;
const CREATE_SUSPENDED: u32 = 0x4;
const CREATE_UNICODE_ENVIRONMENT: u32 = 0x400;
const CREATE_NO_WINDOW: u32 = 0x08000000;
const INFINITE: u32 = 0xFFFFFFFF;
const WAIT_OBJECT_0: u32 = 0;
const JobObjectExtendedLimitInformation: u32 = 9;
const JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK: u32 = 0x1000;
const JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: u32 = 0x2000;
const IMAGE_SUBSYSTEM_WINDOWS_GUI: u16 = 2;
const MB_OK: u32 = 0x0;
const MB_ICONERROR: u32 = 0x10;
const MB_SETFOREGROUND: u32 = 0x10000;

const UNICODE_STRING = extern struct {
    Length: u16,
    MaximumLength: u16,
    Buffer: ?[*]u16,
};

const OBJECT_ATTRIBUTES = extern struct {
    Length: u32,
    RootDirectory: ?*anyopaque,
    ObjectName: *UNICODE_STRING,
    Attributes: u32,
    SecurityDescriptor: ?*anyopaque,
    SecurityQualityOfService: ?*anyopaque,
};

const IO_STATUS_BLOCK = extern struct {
    Status: usize, // NTSTATUS or a pointer
    Information: usize,
};

const FILE_BASIC_INFORMATION = extern struct {
    CreationTime: i64,
    LastAccessTime: i64,
    LastWriteTime: i64,
    ChangeTime: i64,
    FileAttributes: u32,
};

const FILE_STANDARD_INFORMATION = extern struct {
    AllocationSize: i64,
    EndOfFile: i64,
    NumberOfLinks: u32,
    DeletePending: u8,
    Directory: u8,
};

const FILE_DIRECTORY_INFORMATION = extern struct {
    NextEntryOffset: u32,
    FileIndex: u32,
    CreationTime: i64,
    LastAccessTime: i64,
    LastWriteTime: i64,
    ChangeTime: i64,
    EndOfFile: i64,
    AllocationSize: i64,
    FileAttributes: u32,
    FileNameLength: u32,
    FileName: [1]u16,
};

const STARTUPINFOW = extern struct {
    cb: u32,
    lpReserved: ?[*:0]u16,
    lpDesktop: ?[*:0]u16,
    lpTitle: ?[*:0]u16,
    dwX: u32,
    dwY: u32,
    dwXSize: u32,
    dwYSize: u32,
    dwXCountChars: u32,
    dwYCountChars: u32,
    dwFillAttribute: u32,
    dwFlags: u32,
    wShowWindow: u16,
    cbReserved2: u16,
    lpReserved2: ?*u8,
    hStdInput: ?*anyopaque,
    hStdOutput: ?*anyopaque,
    hStdError: ?*anyopaque,
};

const PROCESS_INFORMATION = extern struct {
    hProcess: *anyopaque,
    hThread: *anyopaque,
    dwProcessId: u32,
    dwThreadId: u32,
};

const JOBOBJECT_BASIC_LIMIT_INFORMATION = extern struct {
    PerProcessUserTimeLimit: i64,
    PerJobUserTimeLimit: i64,
    LimitFlags: u32,
    MinimumWorkingSetSize: usize,
    MaximumWorkingSetSize: usize,
    ActiveProcessLimit: u32,
    Affinity: usize,
    PriorityClass: u32,
    SchedulingClass: u32,
};

const JOBOBJECT_EXTENDED_LIMIT_INFORMATION = extern struct {
    BasicLimitInformation: JOBOBJECT_BASIC_LIMIT_INFORMATION,
    IoInfo: [6]u64,
    ProcessMemoryLimit: usize,
    JobMemoryLimit: usize,
    PeakProcessMemoryUsed: usize,
    PeakJobMemoryUsed: usize,
};

const WINAPI = std.builtin.CallingConvention.winapi;

extern "ntdll" fn NtCreateFile(handle: *?*anyopaque, access: u32, attr: *const OBJECT_ATTRIBUTES, io: *IO_STATUS_BLOCK, allocation_size: ?*const i64, attributes: u32, share: u32, disposition: u32, options: u32, ea: ?*const anyopaque, ea_len: u32) callconv(WINAPI) NTSTATUS;
extern "ntdll" fn NtReadFile(handle: *anyopaque, event: ?*anyopaque, apc: ?*const anyopaque, apc_ctx: ?*anyopaque, io: *IO_STATUS_BLOCK, buf: [*]u8, len: u32, offset: ?*const i64, key: ?*const u32) callconv(WINAPI) NTSTATUS;
extern "ntdll" fn NtWriteFile(handle: *anyopaque, event: ?*anyopaque, apc: ?*const anyopaque, apc_ctx: ?*anyopaque, io: *IO_STATUS_BLOCK, buf: [*]const u8, len: u32, offset: ?*const i64, key: ?*const u32) callconv(WINAPI) NTSTATUS;
extern "ntdll" fn NtClose(handle: *anyopaque) callconv(WINAPI) NTSTATUS;
extern "ntdll" fn NtQueryInformationFile(handle: *anyopaque, io: *IO_STATUS_BLOCK, info: *anyopaque, len: u32, class: u32) callconv(WINAPI) NTSTATUS;
extern "ntdll" fn NtSetInformationFile(handle: *anyopaque, io: *IO_STATUS_BLOCK, info: *anyopaque, len: u32, class: u32) callconv(WINAPI) NTSTATUS;
extern "ntdll" fn NtQueryDirectoryFile(handle: *anyopaque, event: ?*anyopaque, apc: ?*const anyopaque, apc_ctx: ?*anyopaque, io: *IO_STATUS_BLOCK, info: *anyopaque, len: u32, class: u32, single: u8, name: ?*const UNICODE_STRING, restart: u8) callconv(WINAPI) NTSTATUS;
extern "ntdll" fn RtlNtStatusToDosError(status: NTSTATUS) callconv(WINAPI) u32;
extern "ntdll" fn RtlDosPathNameToNtPathName_U(dos: [*:0]const u16, nt: *UNICODE_STRING, part: ?*?[*:0]const u16, curdir: ?*anyopaque) callconv(WINAPI) u8;
extern "ntdll" fn RtlFreeUnicodeString(s: *UNICODE_STRING) callconv(WINAPI) void;

extern "kernel32" fn GetLastError() callconv(WINAPI) u32;
extern "kernel32" fn FormatMessageW(flags: u32, source: ?*const anyopaque, id: u32, lang: u32, buf: [*]u16, size: u32, args: ?*anyopaque) callconv(WINAPI) u32;
extern "kernel32" fn GetModuleFileNameW(module: ?*anyopaque, buf: [*]u16, size: u32) callconv(WINAPI) u32;
extern "kernel32" fn GetModuleHandleW(name: ?[*:0]const u16) callconv(WINAPI) ?*anyopaque;
extern "kernel32" fn GetDiskFreeSpaceExW(dir: [*:0]const u16, free_to_caller: ?*u64, total: ?*u64, total_free: ?*u64) callconv(WINAPI) i32;
extern "kernel32" fn GetFinalPathNameByHandleW(handle: *anyopaque, buf: [*]u16, size: u32, flags: u32) callconv(WINAPI) u32;
extern "kernel32" fn GetCurrentProcessId() callconv(WINAPI) u32;
extern "kernel32" fn GetCurrentProcess() callconv(WINAPI) *anyopaque;
extern "kernel32" fn GetProcessAffinityMask(process: *anyopaque, process_mask: *usize, system_mask: *usize) callconv(WINAPI) i32;
extern "kernel32" fn OpenProcess(access: u32, inherit: i32, pid: u32) callconv(WINAPI) ?*anyopaque;
extern "kernel32" fn CloseHandle(handle: *anyopaque) callconv(WINAPI) i32;
extern "kernel32" fn WaitForSingleObject(handle: *anyopaque, ms: u32) callconv(WINAPI) u32;
extern "kernel32" fn Sleep(ms: u32) callconv(WINAPI) void;
extern "kernel32" fn QueryPerformanceCounter(counter: *i64) callconv(WINAPI) i32;
extern "kernel32" fn GetEnvironmentStringsW() callconv(WINAPI) ?[*:0]u16;
extern "kernel32" fn FreeEnvironmentStringsW(block: [*:0]u16) callconv(WINAPI) i32;
extern "kernel32" fn GetStdHandle(which: u32) callconv(WINAPI) ?*anyopaque;
extern "kernel32" fn SetHandleInformation(handle: *anyopaque, mask: u32, flags: u32) callconv(WINAPI) i32;
extern "kernel32" fn GetConsoleMode(handle: *anyopaque, mode: *u32) callconv(WINAPI) i32;
extern "kernel32" fn WriteConsoleW(handle: *anyopaque, buf: [*]const u16, len: u32, written: *u32, reserved: ?*anyopaque) callconv(WINAPI) i32;
extern "kernel32" fn WriteFile(handle: *anyopaque, buf: [*]const u8, len: u32, written: *u32, overlapped: ?*anyopaque) callconv(WINAPI) i32;
extern "kernel32" fn GetStartupInfoW(info: *STARTUPINFOW) callconv(WINAPI) void;
extern "kernel32" fn SetConsoleCtrlHandler(handler: ?*const fn (u32) callconv(WINAPI) i32, add: i32) callconv(WINAPI) i32;
extern "kernel32" fn CreateProcessW(app: ?[*:0]const u16, cmd: ?[*:0]u16, pattr: ?*anyopaque, tattr: ?*anyopaque, inherit: i32, flags: u32, env: ?*const anyopaque, dir: ?[*:0]const u16, si: *STARTUPINFOW, pi: *PROCESS_INFORMATION) callconv(WINAPI) i32;
extern "kernel32" fn ResumeThread(thread: *anyopaque) callconv(WINAPI) u32;
extern "kernel32" fn GetExitCodeProcess(process: *anyopaque, code: *u32) callconv(WINAPI) i32;
extern "kernel32" fn CreateJobObjectW(attr: ?*anyopaque, name: ?[*:0]const u16) callconv(WINAPI) ?*anyopaque;
extern "kernel32" fn SetInformationJobObject(job: *anyopaque, class: u32, info: *anyopaque, len: u32) callconv(WINAPI) i32;
extern "kernel32" fn AssignProcessToJobObject(job: *anyopaque, process: *anyopaque) callconv(WINAPI) i32;
extern "kernel32" fn ExitProcess(code: u32) callconv(WINAPI) noreturn;
extern "advapi32" fn SystemFunction036(buf: [*]u8, len: u32) callconv(WINAPI) u8;
extern "kernel32" fn LoadLibraryW(name: [*:0]const u16) callconv(WINAPI) ?*anyopaque;
extern "kernel32" fn GetProcAddress(module: *anyopaque, name: [*:0]const u8) callconv(WINAPI) ?*const anyopaque;
