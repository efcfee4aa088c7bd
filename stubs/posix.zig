//! What the POSIX ports (sys_linux.zig, sys_macos.zig) share: the thread-local
//! errno of the last failed call, its classification and text, and buffers for
//! NUL-terminated paths. Generic over the OS's errno enum, whose tags have the
//! same POSIX names on both systems.

const std = @import("std");

pub fn Common(comptime E: type, comptime max_path: usize) type {
    return struct {
        pub const Error = error{Sys};

        threadlocal var last_errno: E = .SUCCESS;

        /// The errno of the last failed call on this thread.
        pub fn errno() E {
            return last_errno;
        }

        /// Records *e* as this thread's errno and fails.
        pub fn fail(e: E) Error {
            last_errno = e;
            return error.Sys;
        }

        extern "c" fn strerror(errnum: c_int) [*:0]const u8;

        /// "No space left on device" for ENOSPC.
        pub fn errnoText(e: E) []const u8 {
            return std.mem.span(strerror(@intCast(@backingInt(e))));
        }

        pub fn isNoSpace(e: E) bool {
            return e == .NOSPC or e == .DQUOT;
        }

        /// The object is in the way: it exists, or a path component is a symlink or a file.
        pub fn isExists(e: E) bool {
            return e == .EXIST or e == .NOTEMPTY;
        }

        /// Permission denied (for exec: also a noexec mount).
        pub fn isNotPermitted(e: E) bool {
            return e == .ACCES or e == .PERM;
        }

        pub fn isNotFound(e: E) bool {
            return e == .NOENT;
        }

        /// A path component was a symlink or not a directory (O_NOFOLLOW / O_DIRECTORY refused it).
        pub fn isNotADirectory(e: E) bool {
            return e == .LOOP or e == .NOTDIR;
        }

        /// A buffer for turning a slice into a NUL-terminated path.
        pub const PathZ = struct {
            buf: [max_path + 1]u8 = undefined,

            pub fn of(self: *PathZ, s: []const u8) Error![:0]const u8 {
                if (s.len > max_path) return fail(.NAMETOOLONG);
                @memcpy(self.buf[0..s.len], s);
                self.buf[s.len] = 0;
                return self.buf[0..s.len :0];
            }
        };
    };
}

/// `rm -rf` on top of an OS layer *S*'s `*at()` primitives (removeEntry, openDir,
/// DirIterator, setMode, close, errno), never following symlinks.
pub fn Removal(comptime S: type) type {
    return struct {
        /// `rm -rf dir/name`; a missing tree is not an error.
        pub fn removeTree(dir: S.Fd, name: [:0]const u8) S.Error!void {
            S.removeEntry(dir, name, false) catch {
                switch (S.errno()) {
                    .NOENT => return,
                    // Linux says EISDIR for unlink(2) of a directory, macOS EPERM (POSIX allows both)
                    .ISDIR, .PERM => {},
                    else => return error.Sys,
                }
                try removeDirContents(dir, name);
                S.removeEntry(dir, name, true) catch if (S.errno() != .NOENT) return error.Sys;
            };
        }

        fn removeDirContents(dir: S.Fd, name: [:0]const u8) S.Error!void {
            const fd = S.openDir(dir, name) catch |e| {
                if (S.errno() == .NOENT) return;
                return e;
            };
            defer S.close(fd);
            // The directory must be writable to empty it; our own trees always are,
            // but a tree that someone chmod-ed should still be removable.
            S.setMode(fd, 0o700) catch {};
            try removeContents(fd);
        }

        /// Empties an open directory (`rm -rf dir/*`).
        pub fn removeContents(fd: S.Fd) S.Error!void {
            var it: S.DirIterator = .{ .fd = fd };
            while (try it.next()) |entry| {
                if (entry.kind == .dir) {
                    try removeDirContents(fd, entry.name);
                    S.removeEntry(fd, entry.name, true) catch if (S.errno() != .NOENT) return error.Sys;
                } else {
                    try removeTree(fd, entry.name);
                }
            }
        }
    };
}
