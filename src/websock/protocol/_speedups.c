/*
 * websock.protocol._speedups: optional C versions of the protocol's hot loops.
 *
 * Every function here has a pure-Python twin of identical behaviour (frames.py, utf8.py,
 * connection.py); websock.protocol._accel picks one or the other, and
 * WEBSOCK_NO_EXTENSIONS=1 forces the Python ones. tests/protocol runs against both.
 *
 *   apply_mask(data, mask, offset=0) -> bytes      RFC 6455 §5.3 masking, key started at
 *                                                   byte `offset` of the payload
 *   apply_mask_inplace(buffer, mask, offset=0)      the same, in a writable buffer
 *   utf8_check(data, state=0) -> int                fail-fast UTF-8 check (RFC 3629 §4)
 *   parse_small(view, pos, events, validate) -> int a run of whole small masked client
 *                                                   text/binary frames into Text/Binary
 *   setup(Text, Binary)                             the event classes parse_small builds
 *   field_init(owner, fallback, fields, defaults)   a slotted dataclass's __init__ in C
 *                                                   (_fieldinit.c)
 *   setup_serve(...) / read_method(data_received)   the built-in server's read path in one
 *                                                   call (_serve.c)
 *   message_buffer(n) / unmask_into(buf, at, src, mask, offset) / message_bytes(buf)
 *                                                   a large message unmasked straight into
 *                                                   its final bytes object (no join)
 *   parse_request_head(buffer, limits, pairs_type)  the built-in server's common case of
 *                                                   reading a request head (RFC 9112); its
 *                                                   twin is the Python path it declines to
 *                                                   (websock/server/_http11.py)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <limits.h>
#include <string.h>

#include "_speedups.h"

/* ---- masking (RFC 6455 §5.3: octet i is XORed with key octet i MOD 4) ------------------ */

static void
mask_bytes(unsigned char *dst, const unsigned char *src, Py_ssize_t n,
           const unsigned char *key4, Py_ssize_t offset)
{
    unsigned char key[8];
    Py_ssize_t i = 0;
    for (int j = 0; j < 8; j++) {
        key[j] = key4[(offset + j) & 3];
    }
    uint64_t k64;
    memcpy(&k64, key, 8);
    /* Eight bytes at a time; memcpy keeps unaligned access defined and compiles to
     * plain loads and stores. The key repeats every 4 bytes, so 8 is a whole period. */
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k64;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++) {
        dst[i] = src[i] ^ key[i & 7];
    }
}

static int
get_mask(PyObject *obj, Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (view->len != 4) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "a masking key is 4 bytes (RFC 6455 §5.3)");
        return -1;
    }
    return 0;
}

static PyObject *
apply_mask(PyObject *self, PyObject *args, PyObject *kwds)
{
    (void)self;
    static char *kwlist[] = {"data", "mask", "offset", NULL};
    PyObject *data_obj, *mask_obj;
    Py_ssize_t offset = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|n:apply_mask", kwlist, &data_obj,
                                     &mask_obj, &offset)) {
        return NULL;
    }
    Py_buffer data, mask;
    if (PyObject_GetBuffer(data_obj, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (get_mask(mask_obj, &mask) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out != NULL && data.len) {
        mask_bytes((unsigned char *)PyBytes_AS_STRING(out), data.buf, data.len, mask.buf,
                   offset & 3);
    }
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    return out;
}

static PyObject *
apply_mask_inplace(PyObject *self, PyObject *args, PyObject *kwds)
{
    (void)self;
    static char *kwlist[] = {"buffer", "mask", "offset", NULL};
    PyObject *data_obj, *mask_obj;
    Py_ssize_t offset = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|n:apply_mask_inplace", kwlist,
                                     &data_obj, &mask_obj, &offset)) {
        return NULL;
    }
    Py_buffer data, mask;
    if (PyObject_GetBuffer(data_obj, &data, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    if (get_mask(mask_obj, &mask) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    mask_bytes(data.buf, data.buf, data.len, mask.buf, offset & 3);
    PyBuffer_Release(&mask);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

/* ---- UTF-8 (RFC 3629 §4) -----------------------------------------------------------------
 *
 * The state between calls is the incomplete sequence at the end of the input so far,
 * packed as (number of bytes << 24) | the bytes, big-endian: 0 means "at a character
 * boundary". utf8.py's utf8_check computes the same numbers with the codec.
 */

/* The range of the byte after `lead` (the second byte of its sequence); later
 * continuation bytes are always 80..BF. Returns the sequence length, 0 for a byte that
 * cannot start one. */
static int
lead_info(unsigned int lead, unsigned int *lo, unsigned int *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (lead < 0x80) {
        return 1;
    }
    if (lead < 0xC2) {
        return 0; /* continuation byte, or C0/C1 (overlong) */
    }
    if (lead < 0xE0) {
        return 2;
    }
    if (lead < 0xF0) {
        if (lead == 0xE0) {
            *lo = 0xA0; /* overlong below */
        }
        else if (lead == 0xED) {
            *hi = 0x9F; /* UTF-16 surrogates above (RFC 3629 §3) */
        }
        return 3;
    }
    if (lead < 0xF5) {
        if (lead == 0xF0) {
            *lo = 0x90; /* overlong below */
        }
        else if (lead == 0xF4) {
            *hi = 0x8F; /* above U+10FFFF */
        }
        return 4;
    }
    return 0;
}

/* Returns -1 - index of the first impossible byte, or the new state (>= 0). */
static long long
utf8_scan(const unsigned char *s, Py_ssize_t n, const unsigned char *pend, int npend)
{
    /* The sequence in progress: its bytes so far, the length it needs. */
    unsigned char seq[4];
    int have = 0, need = 0;
    unsigned int lo = 0x80, hi = 0xBF;
    /* The pending bytes were checked by the caller: a valid, incomplete prefix. */
    for (int j = 0; j < npend; j++) {
        unsigned int c = pend[j];
        if (have == 0) {
            need = lead_info(c, &lo, &hi);
        }
        else {
            lo = 0x80;
            hi = 0xBF;
        }
        seq[have++] = (unsigned char)c;
    }
    Py_ssize_t i = 0;
    while (i < n) {
        if (have == 0) {
            /* ASCII runs, eight bytes at a time. */
            while (i + 8 <= n) {
                uint64_t v;
                memcpy(&v, s + i, 8);
                if (v & 0x8080808080808080ULL) {
                    break;
                }
                i += 8;
            }
            if (i >= n) {
                break;
            }
            unsigned int c = s[i];
            if (c < 0x80) {
                i++;
                continue;
            }
            need = lead_info(c, &lo, &hi);
            if (need == 0) {
                return -1 - (long long)i;
            }
            seq[have++] = (unsigned char)c;
            i++;
            continue;
        }
        unsigned int c = s[i];
        if (c < lo || c > hi) {
            return -1 - (long long)i;
        }
        lo = 0x80;
        hi = 0xBF;
        seq[have++] = (unsigned char)c;
        i++;
        if (have == need) {
            have = 0;
        }
    }
    long long state = (long long)have << 24;
    for (int j = 0; j < have; j++) {
        state |= (long long)seq[j] << (8 * (have - 1 - j));
    }
    return state;
}

static PyObject *
utf8_check(PyObject *self, PyObject *args, PyObject *kwds)
{
    (void)self;
    static char *kwlist[] = {"data", "state", NULL};
    PyObject *data_obj, *state_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O!:utf8_check", kwlist, &data_obj,
                                     &PyLong_Type, &state_obj)) {
        return NULL;
    }
    long long state = 0;
    if (state_obj != NULL) {
        int overflow;
        state = PyLong_AsLongLongAndOverflow(state_obj, &overflow);
        if (state == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow) {
            state = -1; /* out of range: refused below, as the pure twin does */
        }
    }
    int npend = (int)((state >> 24) & 0xFF);
    if (state < 0 || state >= (4LL << 24) || (state & 0xFFFFFF) >> (8 * npend)) {
        PyErr_SetString(PyExc_ValueError, "not a utf8_check state");
        return NULL;
    }
    unsigned char pend[3];
    for (int j = 0; j < npend; j++) {
        pend[j] = (unsigned char)(state >> (8 * (npend - 1 - j)));
    }
    /* A state is valid when its bytes are an incomplete prefix of a character. */
    if (npend && utf8_scan(pend, npend, NULL, 0) != state) {
        PyErr_SetString(PyExc_ValueError, "not a utf8_check state");
        return NULL;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(data_obj, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    long long result = utf8_scan(data.buf, data.len, pend, npend);
    PyBuffer_Release(&data);
    return PyLong_FromLongLong(result);
}

/* ---- small frames (RFC 6455 §5.2) ---------------------------------------------------------
 *
 * The classes parse_small builds: Text and Binary are frozen slotted dataclasses with one
 * field, `data`, and no __post_init__, so filling the slot is exactly what their
 * __init__ does (without the frozen dataclass's object.__setattr__ round trip).
 */
PyTypeObject *ws_text_type = NULL;
PyTypeObject *ws_binary_type = NULL;
Py_ssize_t ws_text_offset = -1;
Py_ssize_t ws_binary_offset = -1;

static PyObject *
setup(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *text, *binary;
    if (!PyArg_ParseTuple(args, "O!O!:setup", &PyType_Type, &text, &PyType_Type, &binary)) {
        return NULL;
    }
    Py_ssize_t t_off, b_off;
    if (ws_member_offset((PyTypeObject *)text, "data", &t_off) < 0 ||
        ws_member_offset((PyTypeObject *)binary, "data", &b_off) < 0) {
        return NULL;
    }
    Py_INCREF(text);
    Py_INCREF(binary);
    Py_XSETREF(ws_text_type, (PyTypeObject *)text);
    Py_XSETREF(ws_binary_type, (PyTypeObject *)binary);
    ws_text_offset = t_off;
    ws_binary_offset = b_off;
    Py_RETURN_NONE;
}

int
ws_member_offset(PyTypeObject *type, const char *name, Py_ssize_t *offset)
{
    PyObject *descr = PyObject_GetAttrString((PyObject *)type, name);
    if (descr == NULL) {
        return -1;
    }
    int ok = PyObject_TypeCheck(descr, &PyMemberDescr_Type) &&
             ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
    if (ok) {
        *offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    Py_DECREF(descr);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
        return -1;
    }
    return 0;
}

/* A new instance of `type` whose `data` slot (at `offset`) holds `value` (stolen). */
static PyObject *
new_event(PyTypeObject *type, Py_ssize_t offset, PyObject *value)
{
    if (value == NULL) {
        return NULL;
    }
    PyObject *obj = type->tp_alloc(type, 0);
    if (obj == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    *(PyObject **)((char *)obj + offset) = value;
    return obj;
}

Py_ssize_t
ws_parse_small_run(const unsigned char *s, Py_ssize_t pos, Py_ssize_t end, PyObject *events,
                   int validate, int *bad_utf8)
{
    unsigned char payload[125];
    while (end - pos >= 6) {
        unsigned int b0 = s[pos], b1 = s[pos + 1];
        if (!((b0 == 0x81 || b0 == 0x82) && b1 >= 0x80 && b1 < 0xFE)) {
            break;
        }
        Py_ssize_t length = b1 - 0x80;
        Py_ssize_t start = pos + 6;
        if (start + length > end) {
            break;
        }
        mask_bytes(payload, s + start, length, s + pos + 2, 0);
        PyObject *event;
        if (b0 == 0x82) {
            event = new_event(ws_binary_type, ws_binary_offset,
                              PyBytes_FromStringAndSize((const char *)payload, length));
        }
        else {
            PyObject *text = PyUnicode_DecodeUTF8((const char *)payload, length, NULL);
            if (text == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                    return -1;
                }
                PyErr_Clear();
                if (validate) {
                    *bad_utf8 = 1;
                    return pos;
                }
                text = PyUnicode_DecodeUTF8((const char *)payload, length, "replace");
            }
            event = new_event(ws_text_type, ws_text_offset, text);
        }
        if (event == NULL) {
            return -1;
        }
        int rc = PyList_Append(events, event);
        Py_DECREF(event);
        if (rc < 0) {
            return -1;
        }
        pos = start + length;
    }
    return pos;
}

/* parse_small(view: bytes, pos: int, events: list, validate: bool) -> int
 *
 * From `pos`, turn whole masked client frames with FIN set, no RSV bit, opcode text or
 * binary and a payload under 126 bytes into Text/Binary events appended to `events`,
 * and stop at the first frame that is anything else (or incomplete). Returns the offset
 * after the last frame taken, or -1 - the offset of a text frame that is not valid UTF-8
 * while `validate` is true (the caller fails the connection with 1007, RFC 6455 §8.1);
 * with `validate` false such text is decoded with U+FFFD replacements. */
static PyObject *
parse_small(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "parse_small(view, pos, events, validate)");
        return NULL;
    }
    PyObject *view_obj = args[0];
    PyObject *events = args[2];
    if (!PyBytes_Check(view_obj) || !PyList_Check(events)) {
        PyErr_SetString(PyExc_TypeError, "parse_small needs bytes and a list");
        return NULL;
    }
    if (ws_text_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_speedups.setup() was not called");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int validate = PyObject_IsTrue(args[3]);
    if (validate < 0) {
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(view_obj);
    Py_ssize_t end = PyBytes_GET_SIZE(view_obj);
    if (pos < 0 || pos > end) {
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        return NULL;
    }
    int bad_utf8 = 0;
    pos = ws_parse_small_run(s, pos, end, events, validate, &bad_utf8);
    if (pos < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(bad_utf8 ? -1 - pos : pos);
}

/* ---- large messages -------------------------------------------------------------------------
 *
 * A big unfragmented binary message is unmasked piece by piece, as it arrives, straight
 * into the bytes object it ends up as: one allocation and one pass, no list of chunks to
 * join. The bytes object lives inside a MessageBuffer, which is the only holder of it (so
 * nothing can see it, or hash it, half-filled) until message_bytes() hands it over,
 * complete, and detaches it; filling a new bytes object before anyone sees it is what
 * CPython's own constructors do. The pure twins use a bytearray.
 */
typedef struct {
    PyObject_HEAD
    PyObject *data; /* a bytes object of the message's size, or NULL once handed over */
} MessageBuffer;

static void
MessageBuffer_dealloc(MessageBuffer *self)
{
    Py_XDECREF(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject MessageBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "websock.protocol._speedups.MessageBuffer",
    .tp_basicsize = sizeof(MessageBuffer),
    .tp_dealloc = (destructor)MessageBuffer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Room for one large message (message_buffer / unmask_into / message_bytes).",
};

static PyObject *
message_buffer(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "negative size");
        return NULL;
    }
    MessageBuffer *buffer = PyObject_New(MessageBuffer, &MessageBufferType);
    if (buffer == NULL) {
        return NULL;
    }
    buffer->data = PyBytes_FromStringAndSize(NULL, n);
    if (buffer->data == NULL) {
        Py_DECREF(buffer);
        return NULL;
    }
    return (PyObject *)buffer;
}

static PyObject *
buffer_data(PyObject *obj)
{
    if (!Py_IS_TYPE(obj, &MessageBufferType)) {
        PyErr_SetString(PyExc_TypeError, "needs a buffer from message_buffer()");
        return NULL;
    }
    PyObject *data = ((MessageBuffer *)obj)->data;
    if (data == NULL) {
        PyErr_SetString(PyExc_ValueError, "this message buffer was already handed over");
    }
    return data;
}

/* unmask_into(buf, at, src, mask, offset): buf[at:at+len(src)] = src unmasked with `mask`
 * from payload offset `offset` (or copied as is when mask is None). */
static PyObject *
unmask_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "unmask_into(buf, at, src, mask, offset)");
        return NULL;
    }
    PyObject *dst = buffer_data(args[0]);
    if (dst == NULL) {
        return NULL;
    }
    Py_ssize_t at = PyLong_AsSsize_t(args[1]);
    if (at == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t offset = PyLong_AsSsize_t(args[4]);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer src;
    if (PyObject_GetBuffer(args[2], &src, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (at < 0 || src.len > PyBytes_GET_SIZE(dst) - at) {
        PyBuffer_Release(&src);
        PyErr_SetString(PyExc_ValueError, "unmask_into past the end of the buffer");
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(dst) + at;
    if (args[3] == Py_None) {
        memcpy(out, src.buf, src.len);
    }
    else {
        Py_buffer mask;
        if (get_mask(args[3], &mask) < 0) {
            PyBuffer_Release(&src);
            return NULL;
        }
        mask_bytes(out, src.buf, src.len, mask.buf, offset & 3);
        PyBuffer_Release(&mask);
    }
    PyBuffer_Release(&src);
    Py_RETURN_NONE;
}

/* message_bytes(buf) -> bytes: the message, handed over once (the buffer is then empty). */
static PyObject *
message_bytes(PyObject *self, PyObject *arg)
{
    (void)self;
    PyObject *data = buffer_data(arg);
    if (data == NULL) {
        return NULL;
    }
    ((MessageBuffer *)arg)->data = NULL; /* our reference becomes the caller's */
    return data;
}

/* ---- request heads for the built-in server (RFC 9112 §2-§6) ---------------------------------
 *
 * parse_request_head(buffer, limits, pairs_type) -> tuple | None
 *
 * The common case of websock/server/_http11.py's RequestReader.read_head in one call: when
 * `buffer` starts with a whole request head that the Python path (line scan, the strict
 * parser, check_head) would accept, the head's fields; otherwise None, and the Python path
 * runs and names the error (it is the reference: this function only accepts or declines,
 * and declining is always safe). It declines every head Python rejects (its request-target
 * check included), and two kinds Python accepts, rare enough to leave to it: leading empty
 * lines (RFC 9112 §2.2) and non-ASCII in a Connection value. Everything is bounds-checked
 * against the buffer; nothing past max_head_size + 2 bytes is read.
 *
 * Result: (head_length, method, target, path, query, version, headers, content_length,
 * keep_alive, wants_upgrade), `path`/`query` None unless the target is origin-form without
 * "%" (then Python splits it); `headers` is a new `pairs_type` (a list subclass) of
 * (name, value) str pairs, values without OWS, with its attribute `by_name` set to
 * {name.lower(): [values]} in order of first appearance (what websock.http.Headers keeps). */

static PyObject *empty_tuple;
static unsigned char tchar[256]; /* token characters, RFC 9110 §5.6.2; filled at import */
static PyObject *str_GET, *str_v10, *str_v11, *str_by_name;
static PyObject *str_max_request_line, *str_max_header_line, *str_max_headers,
    *str_max_head_size, *str_max_body_size;

typedef struct {
    Py_ssize_t request_line, header_line, headers, head_size;
    long long body_size;
} HeadLimits;

enum { F_OTHER, F_CONTENT_LENGTH, F_TRANSFER_ENCODING, F_HOST, F_CONNECTION, F_UPGRADE };

/* limits.<name> as a count; a value too large for the type is clamped (it limits nothing). */
static int
read_limit(PyObject *limits, PyObject *name, long long ceiling, long long *out)
{
    PyObject *value = PyObject_GetAttr(limits, name);
    if (value == NULL) {
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    Py_DECREF(value);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *out = overflow > 0 ? ceiling : overflow < 0 ? -1 : (v > ceiling ? ceiling : v);
    return 0;
}

/* `s[:n]` lower-cased (ASCII only) equals the lower-case literal `lit[:m]`. */
static int
ascii_lower_equals(const unsigned char *s, Py_ssize_t n, const char *lit, Py_ssize_t m)
{
    if (n != m) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        if (c != (unsigned char)lit[i]) {
            return 0;
        }
    }
    return 1;
}

static int
field_kind(const unsigned char *name, Py_ssize_t n)
{
    switch (n) {
    case 4:
        return ascii_lower_equals(name, n, "host", 4) ? F_HOST : F_OTHER;
    case 7:
        return ascii_lower_equals(name, n, "upgrade", 7) ? F_UPGRADE : F_OTHER;
    case 10:
        return ascii_lower_equals(name, n, "connection", 10) ? F_CONNECTION : F_OTHER;
    case 14:
        return ascii_lower_equals(name, n, "content-length", 14) ? F_CONTENT_LENGTH : F_OTHER;
    case 17:
        return ascii_lower_equals(name, n, "transfer-encoding", 17) ? F_TRANSFER_ENCODING
                                                                    : F_OTHER;
    default:
        return F_OTHER;
    }
}

/* What Python's str.strip() removes from a latin-1 field value: of its whitespace only SP,
 * HTAB, U+0085 and U+00A0 can occur there (the other ones are control characters). */
static int
strip_char(unsigned char c)
{
    return c == ' ' || c == '\t' || c == 0x85 || c == 0xA0;
}

/* Whether `token` is among value.split(",") each .strip().lower() (check_head's reading of
 * Connection, RFC 9110 §7.6.1). Non-ASCII letters never lower-case to ASCII in latin-1. */
static int
has_connection_token(const unsigned char *v, Py_ssize_t n, const char *token, Py_ssize_t m)
{
    Py_ssize_t start = 0;
    for (;;) {
        Py_ssize_t end = start;
        while (end < n && v[end] != ',') {
            end++;
        }
        Py_ssize_t a = start, b = end;
        while (a < b && strip_char(v[a])) {
            a++;
        }
        while (b > a && strip_char(v[b - 1])) {
            b--;
        }
        if (ascii_lower_equals(v + a, b - a, token, m)) {
            return 1;
        }
        if (end >= n) {
            return 0;
        }
        start = end + 1;
    }
}

/* A str of the bytes s[:n], latin-1 (`high`: some byte is >= 0x80, else all are ASCII). */
static PyObject *
latin1_str(const unsigned char *s, Py_ssize_t n, int high)
{
    PyObject *str = PyUnicode_New(n, high ? 0xff : 0x7f);
    if (str != NULL && n > 0) {
        memcpy(PyUnicode_1BYTE_DATA(str), s, (size_t)n);
    }
    return str;
}

/* name.lower() for an ASCII token `name`: the same object when it has no upper case. */
static PyObject *
lower_name(PyObject *name, const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n && !(s[i] >= 'A' && s[i] <= 'Z')) {
        i++;
    }
    if (i == n) {
        return Py_NewRef(name);
    }
    PyObject *lower = PyUnicode_New(n, 0x7f);
    if (lower == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(lower);
    for (i = 0; i < n; i++) {
        unsigned char c = s[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (Py_UCS1)(c + ('a' - 'A')) : c;
    }
    return lower;
}

/* Field names most requests carry, kept as str objects (as sent, and lower-cased) so that
 * a handshake does not make them again: a name sent exactly so, or all lower case, is one of
 * these; any other spelling is made from its bytes. */
static const char *const known_names[] = {
    "Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol", "Origin", "User-Agent", "Accept",
    "Accept-Encoding", "Accept-Language", "Cache-Control", "Pragma", "Cookie", "Authorization",
    "Content-Length", "Content-Type", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP",
};
#define N_KNOWN_NAMES ((int)(sizeof(known_names) / sizeof(known_names[0])))
static PyObject *known_str[N_KNOWN_NAMES], *known_lower[N_KNOWN_NAMES];
static Py_ssize_t known_len[N_KNOWN_NAMES];

static int
init_known_names(void)
{
    for (int k = 0; k < N_KNOWN_NAMES; k++) {
        known_len[k] = (Py_ssize_t)strlen(known_names[k]);
        known_str[k] = PyUnicode_InternFromString(known_names[k]);
        if (known_str[k] == NULL) {
            return -1;
        }
        known_lower[k] = lower_name(known_str[k], (const unsigned char *)known_names[k],
                                    known_len[k]);
        if (known_lower[k] == NULL) {
            return -1;
        }
        PyUnicode_InternInPlace(&known_lower[k]);
    }
    return 0;
}

/* New references to the str of the name s[:n] (an ASCII token) and to its lower case. */
static int
field_name(const unsigned char *s, Py_ssize_t n, PyObject **name, PyObject **key)
{
    for (int k = 0; k < N_KNOWN_NAMES; k++) {
        if (known_len[k] != n) {
            continue;
        }
        if (memcmp(s, known_names[k], (size_t)n) == 0) {
            *name = Py_NewRef(known_str[k]);
            *key = Py_NewRef(known_lower[k]);
            return 0;
        }
        if (memcmp(s, PyUnicode_1BYTE_DATA(known_lower[k]), (size_t)n) == 0) {
            *name = Py_NewRef(known_lower[k]);
            *key = Py_NewRef(known_lower[k]);
            return 0;
        }
    }
    *name = latin1_str(s, n, 0);
    if (*name == NULL) {
        return -1;
    }
    *key = lower_name(*name, s, n);
    if (*key == NULL) {
        Py_CLEAR(*name);
        return -1;
    }
    return 0;
}

/* Append (name, value) to `pairs` and value to by_name[key]. Steals nothing. */
static int
add_field(PyObject *pairs, PyObject *by_name, PyObject *name, PyObject *key, PyObject *value)
{
    PyObject *pair = PyTuple_Pack(2, name, value);
    if (pair == NULL) {
        return -1;
    }
    int rc = PyList_Append(pairs, pair);
    Py_DECREF(pair);
    if (rc < 0) {
        return -1;
    }
    PyObject *values = PyDict_GetItemWithError(by_name, key); /* borrowed */
    if (values != NULL) {
        return PyList_Append(values, value);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    values = PyList_New(1);
    if (values == NULL) {
        return -1;
    }
    PyList_SET_ITEM(values, 0, Py_NewRef(value));
    rc = PyDict_SetItem(by_name, key, values);
    Py_DECREF(values);
    return rc;
}

#define DECLINE 1 /* parse_fields: not a head this function accepts (Python decides) */

typedef struct {
    Py_ssize_t end; /* offset after the head's final CRLF */
    long long content_length;
    int hosts, has_length, close, keep_alive, upgrade;
} HeadFacts;

/* The field lines from offset `i` (after the request line, whose size with its CRLF is
 * `size`) to the empty line: 0 done, DECLINE, or -1 with an exception set. */
static int
parse_fields(const unsigned char *p, Py_ssize_t n, Py_ssize_t i, Py_ssize_t size,
             const HeadLimits *limits, PyObject *pairs, PyObject *by_name, HeadFacts *facts)
{
    Py_ssize_t count = 0;
    for (;;) {
        if (n - i < 2) {
            return DECLINE; /* incomplete, or longer than the largest head allowed */
        }
        if (p[i] == '\r') {
            if (p[i + 1] != '\n') {
                return DECLINE; /* bare CR (RFC 9112 §2.2) */
            }
            facts->end = i + 2;
            return 0;
        }
        /* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). A line starting
         * with SP/HTAB (obs-fold, §5.2) or with whitespace before the colon (§5.1) has no
         * token directly followed by ":" and is declined here. */
        Py_ssize_t start = i;
        while (i < n && tchar[p[i]]) {
            i++;
        }
        Py_ssize_t name_len = i - start;
        if (name_len == 0 || i >= n || p[i] != ':') {
            return DECLINE;
        }
        i++;
        while (i < n && (p[i] == ' ' || p[i] == '\t')) {
            i++;
        }
        /* field-value: VCHAR / obs-text, SP and HTAB only inside (RFC 9110 §5.5) */
        Py_ssize_t value_start = i, value_end = i;
        int high = 0;
        for (; i < n; i++) {
            unsigned char c = p[i];
            if (c == '\r') {
                break;
            }
            if (c == ' ' || c == '\t') {
                continue;
            }
            if (c < 0x21 || c == 0x7f) {
                return DECLINE; /* control characters, bare LF among them */
            }
            high |= c & 0x80;
            value_end = i + 1;
        }
        if (n - i < 2 || p[i + 1] != '\n') {
            return DECLINE;
        }
        Py_ssize_t line_len = i - start;
        count++;
        size += line_len + 2;
        if (line_len > limits->header_line || count > limits->headers ||
            size > limits->head_size) {
            return DECLINE;
        }
        i += 2;

        const unsigned char *name_bytes = p + start, *value = p + value_start;
        Py_ssize_t value_len = value_end - value_start;
        switch (field_kind(name_bytes, name_len)) {
        case F_CONTENT_LENGTH: /* one, 1-18 ASCII digits (RFC 9112 §6.3), else Python */
            if (facts->has_length || value_len < 1 || value_len > 18) {
                return DECLINE;
            }
            facts->has_length = 1;
            facts->content_length = 0;
            for (Py_ssize_t k = 0; k < value_len; k++) {
                if (value[k] < '0' || value[k] > '9') {
                    return DECLINE;
                }
                facts->content_length = facts->content_length * 10 + (value[k] - '0');
            }
            if (facts->content_length > limits->body_size) {
                return DECLINE; /* 413 */
            }
            break;
        case F_TRANSFER_ENCODING:
            return DECLINE; /* refused (RFC 9112 §6.1) */
        case F_HOST:
            facts->hosts++;
            break;
        case F_CONNECTION:
            if (high) {
                return DECLINE; /* rare; Python's strip() and lower() decide */
            }
            facts->close |= has_connection_token(value, value_len, "close", 5);
            facts->keep_alive |= has_connection_token(value, value_len, "keep-alive", 10);
            break;
        case F_UPGRADE:
            facts->upgrade = 1;
            break;
        default:
            break;
        }
        PyObject *name, *key;
        if (field_name(name_bytes, name_len, &name, &key) < 0) {
            return -1;
        }
        PyObject *text = latin1_str(value, value_len, high);
        int rc = text == NULL ? -1 : add_field(pairs, by_name, name, key, text);
        Py_DECREF(name);
        Py_DECREF(key);
        Py_XDECREF(text);
        if (rc < 0) {
            return -1;
        }
    }
}

/* The request-target forms _split_target takes (RFC 9112 §3.2): origin-form, absolute-form
 * with the schemes it knows, "*" for OPTIONS. Anything else is Python's 400. */
static int
has_prefix(const unsigned char *t, Py_ssize_t n, const char *prefix)
{
    Py_ssize_t m = (Py_ssize_t)strlen(prefix);
    return n >= m && memcmp(t, prefix, (size_t)m) == 0;
}

static int
target_form_ok(const unsigned char *method, Py_ssize_t method_len, const unsigned char *t,
               Py_ssize_t n)
{
    if (t[0] == '/' || has_prefix(t, n, "http://") || has_prefix(t, n, "https://") ||
        has_prefix(t, n, "ws://") || has_prefix(t, n, "wss://")) {
        return 1;
    }
    return n == 1 && t[0] == '*' && method_len == 7 && memcmp(method, "OPTIONS", 7) == 0;
}

static PyObject *
parse_head(const unsigned char *p, Py_ssize_t n, const HeadLimits *limits,
           PyTypeObject *pairs_type)
{
    if (limits->request_line < 0 || limits->header_line < 0 || limits->headers < 0 ||
        limits->head_size < 0 || limits->body_size < 0) {
        Py_RETURN_NONE;
    }
    /* No head is longer than max_head_size plus its final CRLF: look no further. */
    if (n - 2 > limits->head_size) {
        n = limits->head_size + 2;
    }
    /* request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3): method a
     * token, the target visible ASCII. A leading empty line (§2.2) is declined. */
    Py_ssize_t i = 0;
    while (i < n && tchar[p[i]]) {
        i++;
    }
    Py_ssize_t method_len = i;
    if (method_len == 0 || i >= n || p[i] != ' ') {
        Py_RETURN_NONE;
    }
    Py_ssize_t target_start = ++i;
    while (i < n && p[i] >= 0x21 && p[i] <= 0x7e) {
        i++;
    }
    Py_ssize_t target_len = i - target_start;
    /* " HTTP/1.0\r\n" or " HTTP/1.1\r\n"; other versions go to Python (505) */
    if (target_len == 0 || n - i < 11 || memcmp(p + i, " HTTP/1.", 8) != 0 ||
        (p[i + 8] != '0' && p[i + 8] != '1') || p[i + 9] != '\r' || p[i + 10] != '\n') {
        Py_RETURN_NONE;
    }
    int http11 = p[i + 8] == '1';
    Py_ssize_t line_len = i + 9;
    if (line_len > limits->request_line || line_len + 2 > limits->head_size ||
        !target_form_ok(p, method_len, p + target_start, target_len)) {
        Py_RETURN_NONE;
    }

    PyObject *pairs = pairs_type->tp_new(pairs_type, empty_tuple, NULL);
    if (pairs == NULL) {
        return NULL;
    }
    if (!PyList_Check(pairs)) {
        Py_DECREF(pairs);
        PyErr_SetString(PyExc_TypeError, "pairs_type() must make a list");
        return NULL;
    }
    PyObject *by_name = PyDict_New();
    if (by_name == NULL) {
        Py_DECREF(pairs);
        return NULL;
    }
    HeadFacts facts = {0};
    int rc = parse_fields(p, n, line_len + 2, line_len + 2, limits, pairs, by_name, &facts);
    if (rc == 0) {
        /* RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0 */
        if (facts.hosts > 1 || (http11 && facts.hosts != 1)) {
            rc = DECLINE;
        }
        else {
            rc = PyObject_SetAttr(pairs, str_by_name, by_name);
        }
    }
    Py_DECREF(by_name);
    if (rc != 0) {
        Py_DECREF(pairs);
        if (rc < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }

    PyObject *method = (method_len == 3 && memcmp(p, "GET", 3) == 0)
                           ? Py_NewRef(str_GET)
                           : latin1_str(p, method_len, 0);
    PyObject *target = latin1_str(p + target_start, target_len, 0);
    PyObject *path = NULL, *query = NULL;
    const unsigned char *t = p + target_start;
    if (method != NULL && target != NULL) {
        const unsigned char *mark = memchr(t, '?', (size_t)target_len);
        Py_ssize_t path_len = mark ? (Py_ssize_t)(mark - t) : target_len;
        if (t[0] == '/' && memchr(t, '%', (size_t)path_len) == NULL) {
            /* origin-form "/path?query" (RFC 9112 §3.2.1) with nothing to percent-decode */
            path = mark ? latin1_str(t, path_len, 0) : Py_NewRef(target);
            query = mark ? latin1_str(mark + 1, target_len - path_len - 1, 0)
                         : latin1_str(t, 0, 0);
        }
        else {
            /* absolute-form, "*", or a path with "%": Python's _split_target (which cannot
             * fail on these) */
            path = Py_NewRef(Py_None);
            query = Py_NewRef(Py_None);
        }
    }
    int keep_alive = http11 ? !facts.close : facts.keep_alive;
    PyObject *length = NULL, *end = NULL, *result = NULL;
    if (path != NULL && query != NULL) {
        length = PyLong_FromLongLong(facts.has_length ? facts.content_length : 0);
        end = length ? PyLong_FromSsize_t(facts.end) : NULL;
        result = end ? PyTuple_New(10) : NULL;
    }
    if (result != NULL) {
        /* PyTuple_SET_ITEM steals: the references made above move into the tuple. */
        PyTuple_SET_ITEM(result, 0, end);
        PyTuple_SET_ITEM(result, 1, method);
        PyTuple_SET_ITEM(result, 2, target);
        PyTuple_SET_ITEM(result, 3, path);
        PyTuple_SET_ITEM(result, 4, query);
        PyTuple_SET_ITEM(result, 5, Py_NewRef(http11 ? str_v11 : str_v10));
        PyTuple_SET_ITEM(result, 6, pairs);
        PyTuple_SET_ITEM(result, 7, length);
        PyTuple_SET_ITEM(result, 8, Py_NewRef(keep_alive ? Py_True : Py_False));
        PyTuple_SET_ITEM(result, 9, Py_NewRef(facts.upgrade ? Py_True : Py_False));
        return result;
    }
    Py_XDECREF(end);
    Py_XDECREF(length);
    Py_XDECREF(method);
    Py_XDECREF(target);
    Py_XDECREF(path);
    Py_XDECREF(query);
    Py_DECREF(pairs);
    return NULL;
}

static PyObject *
parse_request_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "parse_request_head(buffer, limits, pairs_type)");
        return NULL;
    }
    PyObject *pairs_type = args[2];
    if (!PyType_Check(pairs_type) ||
        !PyType_IsSubtype((PyTypeObject *)pairs_type, &PyList_Type)) {
        PyErr_SetString(PyExc_TypeError, "pairs_type must be a subclass of list");
        return NULL;
    }
    long long request_line, header_line, headers, head_size, body_size;
    if (read_limit(args[1], str_max_request_line, PY_SSIZE_T_MAX, &request_line) < 0 ||
        read_limit(args[1], str_max_header_line, PY_SSIZE_T_MAX, &header_line) < 0 ||
        read_limit(args[1], str_max_headers, PY_SSIZE_T_MAX, &headers) < 0 ||
        read_limit(args[1], str_max_head_size, PY_SSIZE_T_MAX, &head_size) < 0 ||
        read_limit(args[1], str_max_body_size, LLONG_MAX, &body_size) < 0) {
        return NULL;
    }
    HeadLimits limits = {(Py_ssize_t)request_line, (Py_ssize_t)header_line,
                         (Py_ssize_t)headers, (Py_ssize_t)head_size, body_size};
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    /* The buffer stays exported (a bytearray cannot be resized) until the objects are made. */
    PyObject *result = parse_head(view.buf, view.len, &limits, (PyTypeObject *)pairs_type);
    PyBuffer_Release(&view);
    return result;
}

static int
init_head_parser(void)
{
    const char *specials = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        tchar[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    }
    for (const char *s = specials; *s; s++) {
        tchar[(unsigned char)*s] = 1;
    }
    empty_tuple = PyTuple_New(0);
    str_GET = PyUnicode_InternFromString("GET");
    str_v10 = PyUnicode_InternFromString("1.0");
    str_v11 = PyUnicode_InternFromString("1.1");
    str_by_name = PyUnicode_InternFromString("by_name");
    str_max_request_line = PyUnicode_InternFromString("max_request_line");
    str_max_header_line = PyUnicode_InternFromString("max_header_line");
    str_max_headers = PyUnicode_InternFromString("max_headers");
    str_max_head_size = PyUnicode_InternFromString("max_head_size");
    str_max_body_size = PyUnicode_InternFromString("max_body_size");
    if (empty_tuple == NULL || str_GET == NULL || str_v10 == NULL || str_v11 == NULL ||
        str_by_name == NULL || str_max_request_line == NULL || str_max_header_line == NULL ||
        str_max_headers == NULL || str_max_head_size == NULL || str_max_body_size == NULL) {
        return -1;
    }
    return init_known_names();
}

static PyMethodDef methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_VARARGS | METH_KEYWORDS,
     "apply_mask(data, mask, offset=0) -> bytes: XOR with the 4-byte key (RFC 6455 §5.3)."},
    {"apply_mask_inplace", (PyCFunction)(void (*)(void))apply_mask_inplace,
     METH_VARARGS | METH_KEYWORDS,
     "apply_mask_inplace(buffer, mask, offset=0): mask a writable buffer in place."},
    {"utf8_check", (PyCFunction)(void (*)(void))utf8_check, METH_VARARGS | METH_KEYWORDS,
     "utf8_check(data, state=0) -> int: -1 - index of the first impossible byte, or the "
     "state (the pending incomplete sequence; 0 at a character boundary)."},
    {"parse_small", (PyCFunction)(void (*)(void))parse_small, METH_FASTCALL,
     "parse_small(view, pos, events, validate) -> int: whole small client data frames."},
    {"setup", setup, METH_VARARGS, "setup(Text, Binary): the classes parse_small builds."},
    {"field_init", ws_field_init, METH_VARARGS,
     "field_init(owner, fallback, fields, defaults) -> a C __init__ for a slotted dataclass "
     "(stores positional fields; any other call goes to fallback)."},
    {"setup_serve", ws_setup_serve, METH_VARARGS,
     "setup_serve(HttpConnection, ServerConnection, Session, Push, current, large_payload): "
     "the classes the read path (read_method) mirrors."},
    {"read_method", ws_read_method, METH_O,
     "read_method(data_received) -> a data_received that handles an upgraded connection's "
     "common read in C and hands every other call to the given one."},
    {"message_buffer", message_buffer, METH_O, "message_buffer(n): room for a message."},
    {"unmask_into", (PyCFunction)(void (*)(void))unmask_into, METH_FASTCALL,
     "unmask_into(buf, at, src, mask, offset): unmask src into buf at `at`."},
    {"message_bytes", message_bytes, METH_O, "message_bytes(buf) -> bytes: the message."},
    {"parse_request_head", (PyCFunction)(void (*)(void))parse_request_head, METH_FASTCALL,
     "parse_request_head(buffer, limits, pairs_type) -> tuple | None: a whole request head "
     "the server's Python path would accept, parsed; None: let the Python path decide."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "websock.protocol._speedups",
    "Optional C versions of websock.protocol's hot loops (see _accel.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&MessageBufferType) < 0 || PyType_Ready(&ws_FieldInitType) < 0 ||
        PyType_Ready(&ws_ReadMethodType) < 0 ||
        init_head_parser() < 0) {
        return NULL;
    }
    return PyModule_Create(&module);
}
