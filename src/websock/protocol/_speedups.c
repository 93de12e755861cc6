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
 *   message_buffer(n) / unmask_into(buf, at, src, mask, offset) / message_bytes(buf)
 *                                                   a large message unmasked straight into
 *                                                   its final bytes object (no join)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

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
static PyTypeObject *text_type = NULL;
static PyTypeObject *binary_type = NULL;
static Py_ssize_t text_offset = -1;
static Py_ssize_t binary_offset = -1;

static int
slot_offset(PyTypeObject *type, Py_ssize_t *offset)
{
    PyObject *descr = PyDict_GetItemString(type->tp_dict, "data"); /* borrowed */
    if (descr == NULL || !PyObject_TypeCheck(descr, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_TypeError, "%s has no 'data' slot", type->tp_name);
        return -1;
    }
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%s.data is not an object slot", type->tp_name);
        return -1;
    }
    *offset = member->offset;
    return 0;
}

static PyObject *
setup(PyObject *self, PyObject *args)
{
    PyObject *text, *binary;
    if (!PyArg_ParseTuple(args, "O!O!:setup", &PyType_Type, &text, &PyType_Type, &binary)) {
        return NULL;
    }
    Py_ssize_t t_off, b_off;
    if (slot_offset((PyTypeObject *)text, &t_off) < 0 ||
        slot_offset((PyTypeObject *)binary, &b_off) < 0) {
        return NULL;
    }
    Py_INCREF(text);
    Py_INCREF(binary);
    Py_XSETREF(text_type, (PyTypeObject *)text);
    Py_XSETREF(binary_type, (PyTypeObject *)binary);
    text_offset = t_off;
    binary_offset = b_off;
    Py_RETURN_NONE;
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
    if (text_type == NULL) {
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
            event = new_event(binary_type, binary_offset,
                              PyBytes_FromStringAndSize((const char *)payload, length));
        }
        else {
            PyObject *text = PyUnicode_DecodeUTF8((const char *)payload, length, NULL);
            if (text == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                    return NULL;
                }
                PyErr_Clear();
                if (validate) {
                    return PyLong_FromSsize_t(-1 - pos);
                }
                text = PyUnicode_DecodeUTF8((const char *)payload, length, "replace");
            }
            event = new_event(text_type, text_offset, text);
        }
        if (event == NULL) {
            return NULL;
        }
        int rc = PyList_Append(events, event);
        Py_DECREF(event);
        if (rc < 0) {
            return NULL;
        }
        pos = start + length;
    }
    return PyLong_FromSsize_t(pos);
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
    PyObject *data = buffer_data(arg);
    if (data == NULL) {
        return NULL;
    }
    ((MessageBuffer *)arg)->data = NULL; /* our reference becomes the caller's */
    return data;
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
    {"message_buffer", message_buffer, METH_O, "message_buffer(n): room for a message."},
    {"unmask_into", (PyCFunction)(void (*)(void))unmask_into, METH_FASTCALL,
     "unmask_into(buf, at, src, mask, offset): unmask src into buf at `at`."},
    {"message_bytes", message_bytes, METH_O, "message_bytes(buf) -> bytes: the message."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "websock.protocol._speedups",
    "Optional C versions of websock.protocol's hot loops (see _accel.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&MessageBufferType) < 0) {
        return NULL;
    }
    return PyModule_Create(&module);
}
