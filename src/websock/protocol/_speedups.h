/*
 * Shared between the C files of websock.protocol._speedups (one extension module):
 * _speedups.c (the protocol's hot loops, the module itself) and _serve.c (the built-in
 * server's read path).
 */
#ifndef WEBSOCK_SPEEDUPS_H
#define WEBSOCK_SPEEDUPS_H

#include <Python.h>

/* The event classes parse_small builds (setup(Text, Binary)) and their `data` slots. */
extern PyTypeObject *ws_text_type;
extern PyTypeObject *ws_binary_type;
extern Py_ssize_t ws_text_offset;
extern Py_ssize_t ws_binary_offset;

/* parse_small's loop over s[pos:end]: Text/Binary events appended to `events`. Returns the
 * offset after the last frame taken (with *bad_utf8 set when it stopped at a text frame
 * that is not valid UTF-8 while `validate`), or -1 with an exception set. */
Py_ssize_t ws_parse_small_run(const unsigned char *s, Py_ssize_t pos, Py_ssize_t end,
                              PyObject *events, int validate, int *bad_utf8);

/* The offset of `type`'s object slot `name` (a T_OBJECT_EX member descriptor), or -1
 * with TypeError. */
int ws_member_offset(PyTypeObject *type, const char *name, Py_ssize_t *offset);

/* _method.c: a C callable standing in for a Python function (`fallback`), bound like one.
 * Every such type starts with these fields and puts WS_METHOD_SLOTS in its PyTypeObject,
 * next to its name, size, tp_traverse and tp_clear (ws_method_traverse/ws_method_clear
 * when it has no fields of its own). */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *fallback;
} WsMethod;

#define WS_METHOD_SLOTS                                                                    \
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |      \
                Py_TPFLAGS_METHOD_DESCRIPTOR,                                              \
    .tp_vectorcall_offset = offsetof(WsMethod, vectorcall), .tp_call = PyVectorcall_Call,  \
    .tp_descr_get = ws_method_get, .tp_getattro = ws_method_getattro,                      \
    .tp_dealloc = ws_method_dealloc, .tp_members = ws_method_members,                      \
    .tp_getset = ws_method_getset

PyObject *ws_method_get(PyObject *self, PyObject *obj, PyObject *type);
PyObject *ws_method_getattro(PyObject *self, PyObject *name);
void ws_method_dealloc(PyObject *self);
/* tp_traverse and tp_clear of a type with no fields beyond WsMethod's. */
int ws_method_traverse(PyObject *self, visitproc visit, void *arg);
int ws_method_clear(PyObject *self);
extern PyMemberDef ws_method_members[];
extern PyGetSetDef ws_method_getset[];

/* _fieldinit.c */
extern PyTypeObject ws_FieldInitType;
PyObject *ws_field_init(PyObject *module, PyObject *args);

/* _serve.c */
PyObject *ws_setup_serve(PyObject *self, PyObject *args);
extern PyTypeObject ws_ReadMethodType;
PyObject *ws_read_method(PyObject *module, PyObject *fallback);

#endif
