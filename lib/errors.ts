/**
 * The one error class of hiberkit's device layer. The native addon constructs it from C++
 * (it is handed this constructor when it loads) and the emulator throws it from TypeScript,
 * so a caller sees the same shape from both backends:
 *
 *   err.code    'EBUSY'              symbolic errno name
 *   err.errno   16                   Linux x86_64 errno number
 *   err.syscall 'ioctl'              the failing system call
 *   err.ioctl   'SNAPSHOT_FREEZE'    the ioctl name, when syscall is 'ioctl'
 *   err.path    '/dev/snapshot'      the file the call was made on
 *
 * The message says what happened and what the user can do about it.
 */

/** Linux x86_64 errno numbers of every code the device layer can report. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EISDIR: 21,
  EINVAL: 22,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  ENOSYS: 38,
  ENODATA: 61,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
} as const;

export type ErrnoCode = keyof typeof ERRNO;

const CODE_BY_ERRNO = new Map<number, string>(Object.entries(ERRNO).map(([code, n]) => [n, code]));

/** The symbolic name of an errno number ('E123' for one hiberkit does not know). */
export function errnoCode(errno: number): string {
  return CODE_BY_ERRNO.get(errno) ?? `E${errno}`;
}

export interface SnapshotErrorInfo {
  code: string;
  errno: number;
  syscall: string;
  ioctl?: string;
  path?: string;
}

/** What an errno means for a given operation, and what to do next. Most specific key first. */
const ADVICE: Record<string, string> = {
  'open:EPERM':
    'hibernation is not available on this kernel (lockdown under Secure Boot, "nohibernate" on the command line, secret memory in use); `hiberkit doctor` says which',
  'open:EBUSY':
    '/dev/snapshot is already open: another hibernation tool is running, or the kernel is hibernating or resuming; wait for it or stop it',
  'open:ENOENT':
    'this kernel has no /dev/snapshot: it needs CONFIG_HIBERNATION and CONFIG_HIBERNATION_SNAPSHOT_DEV',
  'open:ENODEV': 'the /dev/snapshot node exists but no driver answers: the kernel lacks CONFIG_HIBERNATION_SNAPSHOT_DEV',
  'open:ENOSYS': '/dev/snapshot opens either for reading (hibernate) or for writing (restore), never both',
  'open:EACCES': 'permission denied: run as root',
  'ioctl:EPERM': 'the call needs CAP_SYS_ADMIN in the initial user namespace (run as root, outside a container)',
  'SNAPSHOT_CREATE_IMAGE:EPERM': 'an image can only be created on a device opened for hibernation, after SNAPSHOT_FREEZE, with no image already made (call SNAPSHOT_FREE first)',
  'SNAPSHOT_CREATE_IMAGE:ENOMEM': 'not enough free memory to copy the image: lower the preferred image size (--image-size) or free memory',
  'SNAPSHOT_CREATE_IMAGE:EBUSY': 'a kernel thread or a device driver refused to freeze; see the kernel log (dmesg)',
  'SNAPSHOT_ATOMIC_RESTORE:EPERM': 'restore needs a device opened for restore, SNAPSHOT_FREEZE first, and the complete image written to it',
  'SNAPSHOT_ATOMIC_RESTORE:ENODATA': 'the image written to the device is incomplete; write all of it (and one extra write after the last page) first',
  'SNAPSHOT_FREEZE:EBUSY': 'a task refused to freeze (a process in uninterruptible sleep: hung NFS, FUSE) or a wakeup event arrived; see dmesg and retry',
  'SNAPSHOT_FREEZE:EAGAIN': 'user-mode helpers were still running; retry in a moment',
  'SNAPSHOT_SET_SWAP_AREA:ENODEV': 'no active swap area matches that device and offset; check `swapon --show` and the resume offset (`hiberkit swap-offset FILE` for a swap file)',
  'SNAPSHOT_SET_SWAP_AREA:EINVAL': 'the swap device number is 0: give a real resume device',
  'SNAPSHOT_SET_SWAP_AREA:EPERM': 'swap pages are still allocated for an image; call SNAPSHOT_FREE_SWAP_PAGES first',
  'SNAPSHOT_ALLOC_SWAP_PAGE:ENODEV': 'no swap area is selected: call SNAPSHOT_SET_SWAP_AREA first (or boot with resume=)',
  'SNAPSHOT_ALLOC_SWAP_PAGE:ENOSPC': 'the swap area is full: add swap space or lower the image size',
  'SNAPSHOT_FREE_SWAP_PAGES:ENODEV': 'no swap area is selected: call SNAPSHOT_SET_SWAP_AREA first',
  'SNAPSHOT_GET_IMAGE_SIZE:ENODATA': 'there is no image yet: SNAPSHOT_CREATE_IMAGE first',
  'SNAPSHOT_POWER_OFF:ENOSYS': 'this machine has no platform (ACPI S4) hibernation; power off with --power-off shutdown instead',
  'SNAPSHOT_S2RAM:ENOSYS': 'this machine cannot suspend to RAM',
  'SNAPSHOT_S2RAM:EPERM': 'suspend to RAM needs SNAPSHOT_FREEZE first',
  'ioctl:ENOTTY': 'not a /dev/snapshot request this kernel knows',
  'ioctl:EBUSY': 'another thread is inside a /dev/snapshot call, or the kernel is in a sleep transition; retry when it is done',
  'read:ENODATA': 'there is no image to read: SNAPSHOT_CREATE_IMAGE first (or the image was freed)',
  'read:EBADF': 'the device was opened for restore; images are read in hibernate mode',
  'write:EBADF': 'the device was opened for hibernation; images are written in restore mode',
  'write:EPERM': 'the kernel refused the image header: it was made on another machine, or with a different memory size or memory map; boot normally and discard the image',
  'write:EFAULT': 'the image metadata does not match this machine\'s memory map; the image cannot be restored here',
  'write:ETXTBSY': 'that block device is an active swap area: select it with SNAPSHOT_SET_SWAP_AREA before writing to it',
  'lseek:ESPIPE': '/dev/snapshot is a stream: it cannot seek',
  'pwrite:ENOSPC': 'the device is full',
  'EIO': 'an I/O error: check the disk and the kernel log (dmesg)',
  'EACCES': 'permission denied: run as root',
  'ENOENT': 'no such file or device',
};

function adviceFor(info: SnapshotErrorInfo): string | undefined {
  const keys = [info.ioctl && `${info.ioctl}:${info.code}`, `${info.syscall}:${info.code}`, info.code];
  for (const key of keys) if (key && ADVICE[key]) return ADVICE[key];
  return undefined;
}

export class SnapshotError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly ioctl?: string;
  readonly path?: string;

  constructor(info: SnapshotErrorInfo, detail?: string) {
    const what = info.ioctl ?? info.syscall;
    const where = info.path ? ` on ${info.path}` : '';
    const advice = detail ?? adviceFor(info);
    super(`${what} failed${where}: ${info.code}${advice ? ` (${advice})` : ''}`);
    this.name = 'SnapshotError';
    this.code = info.code;
    this.errno = info.errno;
    this.syscall = info.syscall;
    if (info.ioctl !== undefined) this.ioctl = info.ioctl;
    if (info.path !== undefined) this.path = info.path;
  }

  /** Builds the error from an errno number: how both backends report a failed call. */
  static fromErrno(errno: number, syscall: string, extra: { ioctl?: string; path?: string } = {}): SnapshotError {
    return new SnapshotError({ code: errnoCode(errno), errno, syscall, ...extra });
  }
}

/** True when `err` is a SnapshotError with the given code. */
export function isSnapshotError(err: unknown, code?: ErrnoCode): err is SnapshotError {
  return err instanceof SnapshotError && (code === undefined || err.code === code);
}

/**
 * Every stable `code` a HiberkitError can carry (README "Errors" lists them for users).
 */
export type HiberkitErrorCode =
  // This machine cannot hibernate (preflight, `hiberkit doctor`).
  | 'NOT_ROOT'
  | 'NO_SNAPSHOT_DEVICE'
  | 'LOCKDOWN'
  | 'NOHIBERNATE'
  | 'HIBERNATION_DISABLED'
  | 'UNSUPPORTED_PAGE_SIZE'
  | 'NATIVE_UNAVAILABLE'
  | 'NO_RESUME_PROGRAM'
  // Swap and where the image goes.
  | 'NO_SWAP'
  | 'NOT_ACTIVE_SWAP'
  | 'NOT_ENOUGH_SWAP'
  | 'SWAP_NOT_ENCRYPTED'
  | 'NO_RESUME_DEVICE'
  | 'RESUME_OFFSET_ON_PARTITION'
  | 'RESUME_PAGE_NOT_SWAP'
  | 'NOT_A_SWAP_FILE'
  | 'SWAP_FILE_UNALIGNED'
  | 'SWAP_FILE_UNMAPPED'
  | 'BAD_DEVICE_SPEC'
  | 'DEVICE_NOT_FOUND'
  | 'NOT_A_BLOCK_DEVICE'
  | 'NO_BLOCK_DEVICE'
  // Hibernation.
  | 'ALREADY_RUNNING'
  | 'IMAGE_PRESENT'
  | 'NO_PLATFORM_S4'
  | 'HIBERNATE_FAILED'
  | 'CRITICAL_SECTION_DIED'
  | 'IMAGE_NOT_INVALIDATED'
  | 'POWER_OFF_RETURNED'
  | 'SHORT_IMAGE'
  | 'SHORT_WRITE'
  | 'BAD_SWAP_PAGE'
  | 'DEVICE_FROZEN'
  // The image found at resume.
  | 'NO_IMAGE'
  | 'FOREIGN_SIGNATURE'
  | 'IMAGE_CORRUPT'
  | 'IMAGE_TRUNCATED'
  | 'UNSUPPORTED_VERSION'
  | 'IMAGE_TAMPERED'
  | 'IMAGE_FORGED'
  | 'IMAGE_NOT_ENCRYPTED'
  | 'WRONG_KERNEL'
  | 'WRONG_MACHINE'
  | 'RESTORE_FAILED'
  | 'RESUME_FAILED'
  // Keys and passphrases.
  | 'WRONG_PASSPHRASE'
  | 'WRONG_KEY'
  | 'KEY_REQUIRED'
  | 'NO_PASSPHRASE'
  | 'WEAK_PASSPHRASE'
  | 'BAD_KEY_FILE'
  | 'KEY_EXISTS'
  // Settings.
  | 'BAD_CONFIG'
  // Installation (`hiberkit setup`).
  | 'NO_INITRAMFS_GENERATOR'
  | 'SETUP_CHANGED'
  | 'SETUP_COMMAND_FAILED'
  // What `hiberkit doctor` finds wrong with an installation.
  | 'NOT_SET_UP'
  | 'INITRAMFS_WITHOUT_RESUME'
  | 'STALE_RESUME_PROGRAM'
  | 'SYSTEMD_NOT_WIRED'
  | 'KERNEL_RESUME_ELSEWHERE'
  // Backends, the emulator and the demo.
  | 'WRONG_BACKEND'
  | 'EMULATOR_STATE'
  | 'NO_MACHINE'
  | 'BAD_MACHINE'
  | 'BAD_MACHINE_CONFIG'
  | 'MACHINE_EXISTS'
  | 'MACHINE_DIR_UNUSABLE'
  | 'EMULATOR_WOULD_BLOCK'
  | 'MACHINE_OFF'
  | 'SESSION_LOST'
  | 'DEMO_DIR_BUSY'
  | 'DEMO_MEMORY_MISMATCH'
  | 'DEMO_FAILED';

/**
 * A failure of hiberkit's own logic rather than of one system call: bad input, an image that
 * fails verification, a machine that cannot hibernate. `code` is a stable identifier
 * (e.g. 'IMAGE_CORRUPT', 'NOT_ENOUGH_SWAP'); `cause` keeps the underlying error.
 */
export class HiberkitError extends Error {
  readonly code: HiberkitErrorCode;
  constructor(code: HiberkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HiberkitError';
    this.code = code;
  }
}
