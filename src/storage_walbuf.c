/* storage_walbuf: a VFS over SQLite's default one that gathers what a commit
 * appends to the WAL into one write. SQLite writes each frame as two pwrite
 * calls, its 24-byte header and its page: about nine system calls per worker
 * call of a fleet's lease, and a third of the engine's time under one.
 * Invariant: the buffered bytes reach the file, in order, when the commit
 * frame's page is written (its header holds the database's size in pages,
 * nonzero only there), which is before SQLite publishes the frames in the
 * WAL index, so no reader, another connection's included, can tell; and
 * before any other operation on the file (read, sync, truncate, size, file
 * control, close) or a write that does not continue the buffered run. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "storage_sqlite_impl.h"

#define FRAME_HEADER 24           /* a WAL frame's header, written alone */
/* A longer run is written in parts: the unix VFS takes a write of less than
 * 128 KB only (it masks the count to 17 bits; 1 MB came out as 0 bytes, a
 * "disk full"). 64 KB holds fifteen 4 KB frames, a steady commit's three. */
#define BUF_MAX (64 << 10)

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;           /* the wrapped VFS's file, allocated right after */
    unsigned char *buf;           /* bytes not written yet, for offset off.. */
    sqlite3_int64 off;
    int len;
    int commit;                   /* the commit frame's header is in buf */
} walbuf_file;

/* The VFS is process-wide by SQLite's design (registered by name): set up
 * once, over the default VFS of the moment the first history opens. */
static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *under;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((walbuf_file *)f)->real;
}

/* Writes what is buffered. The bytes are dropped on failure too: SQLite
 * then fails the transaction they belong to, which never became visible. */
static int flush(walbuf_file *w)
{
    if (w->len == 0) return SQLITE_OK;
    int rc = w->real->pMethods->xWrite(w->real, w->buf, w->len, w->off);
    w->len = 0;
    w->commit = 0;
    return rc;
}

static int wb_write(sqlite3_file *f, const void *data, int n, sqlite3_int64 off)
{
    walbuf_file *w = (walbuf_file *)f;
    /* The commit frame's page, even when the header went out alone to make
     * room for it: kept back, it was missing from the file (a short read,
     * or a page of the WAL's last round) for every other connection once
     * SQLite listed the frame, until this one's next write. */
    int ends_commit = w->commit && off == w->off + w->len;
    if (w->len && (off != w->off + w->len || w->len + n > BUF_MAX)) {
        int rc = flush(w);
        if (rc != SQLITE_OK) return rc;
    }
    if (n > BUF_MAX) return w->real->pMethods->xWrite(w->real, data, n, off);
    if (!w->buf && !(w->buf = malloc(BUF_MAX)))
        return w->real->pMethods->xWrite(w->real, data, n, off);
    if (!w->len) w->off = off;
    memcpy(w->buf + w->len, data, (size_t)n);
    w->len += n;
    if (n == FRAME_HEADER) {
        const unsigned char *h = data;
        w->commit = (h[4] | h[5] | h[6] | h[7]) != 0;
        return SQLITE_OK;
    }
    return w->commit || ends_commit ? flush(w) : SQLITE_OK;
}

static int wb_close(sqlite3_file *f)
{
    walbuf_file *w = (walbuf_file *)f;
    int rc = flush(w);
    free(w->buf);
    w->buf = NULL;
    int rc2 = w->real->pMethods->xClose(w->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    int rc = flush((walbuf_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((walbuf_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
    int rc = flush((walbuf_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((walbuf_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush((walbuf_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int wb_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int wb_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int wb_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wb_device_chars(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

/* Version 1: a WAL file is neither shared memory nor memory-mapped. */
static const sqlite3_io_methods walbuf_methods = {
    1, wb_close, wb_read, wb_write, wb_truncate, wb_sync, wb_file_size, wb_lock, wb_unlock,
    wb_check_reserved, wb_file_control, wb_sector_size, wb_device_chars,
    NULL, NULL, NULL, NULL, NULL, NULL};

/* The WAL gets the buffer; every other file is the wrapped VFS's own. */
static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
                   int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL)) return under->xOpen(under, name, f, flags, out_flags);
    walbuf_file *w = (walbuf_file *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    int rc = under->xOpen(under, name, w->real, flags, out_flags);
    w->base.pMethods = w->real->pMethods ? &walbuf_methods : NULL;
    return rc;
}

static void setup(void)
{
    under = sqlite3_vfs_find(NULL);
    if (!under) return;
    walbuf_vfs = *under;
    walbuf_vfs.zName = STORAGE_WALBUF_VFS;
    walbuf_vfs.szOsFile = (int)sizeof(walbuf_file) + under->szOsFile;
    walbuf_vfs.xOpen = wb_open;
    if (sqlite3_vfs_register(&walbuf_vfs, 0) != SQLITE_OK) under = NULL;
}

const char *storage_walbuf_vfs(void)
{
    pthread_once(&once, setup);
    return under ? STORAGE_WALBUF_VFS : NULL;
}
