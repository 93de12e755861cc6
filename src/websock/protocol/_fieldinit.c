/*
 * FieldInit: a slotted dataclass's __init__ in C, for the result and frame classes built
 * once per message (Push, Ok, Text, Binary; websock/results.py).
 *
 *   field_init(owner, fallback, fields, defaults) -> FieldInit
 *
 * Called as owner.__init__(self, *args) with positional arguments only, on an instance
 * of exactly `owner`, it stores each field into its slot, the trailing ones from
 * `defaults` when not given, which is all a frozen slotted dataclass's generated
 * __init__ does when the class has no __post_init__. Every other call (keywords, a wrong
 * number of arguments, a subclass) goes to `fallback`, the Python __init__ it mirrors,
 * so errors and edge cases are that function's own. It binds like a function, and inspect
 * sees the fallback, so the signature is the same (_method.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "_speedups.h"

#define FIELD_MAX 4

typedef struct {
    WsMethod base; /* vectorcall, fallback (_method.c) */
    PyTypeObject *owner;
    Py_ssize_t nfields;
    Py_ssize_t nrequired;
    Py_ssize_t offsets[FIELD_MAX];
    PyObject *defaults[FIELD_MAX]; /* for fields nrequired.. */
} FieldInit;

static PyObject *
FieldInit_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                     PyObject *kwnames)
{
    FieldInit *self = (FieldInit *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && nargs >= 1 + self->nrequired && nargs <= 1 + self->nfields &&
        Py_TYPE(args[0]) == self->owner) {
        PyObject *obj = args[0];
        for (Py_ssize_t i = 0; i < self->nfields; i++) {
            PyObject *value = i + 1 < nargs ? args[i + 1] : self->defaults[i];
            Py_INCREF(value);
            Py_XSETREF(*(PyObject **)((char *)obj + self->offsets[i]), value);
        }
        Py_RETURN_NONE;
    }
    return PyObject_Vectorcall(self->base.fallback, args, nargsf, kwnames);
}

static int
FieldInit_traverse(FieldInit *self, visitproc visit, void *arg)
{
    Py_VISIT(self->owner);
    Py_VISIT(self->base.fallback);
    for (Py_ssize_t i = 0; i < self->nfields; i++) {
        Py_VISIT(self->defaults[i]);
    }
    return 0;
}

static int
FieldInit_clear(FieldInit *self)
{
    Py_CLEAR(self->owner);
    Py_CLEAR(self->base.fallback);
    for (Py_ssize_t i = 0; i < FIELD_MAX; i++) {
        Py_CLEAR(self->defaults[i]);
    }
    return 0;
}

static PyObject *
FieldInit_repr(FieldInit *self)
{
    return PyUnicode_FromFormat("<websock field __init__ of %s>", self->owner->tp_name);
}

PyTypeObject ws_FieldInitType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "websock.protocol._speedups.FieldInit",
    .tp_basicsize = sizeof(FieldInit),
    .tp_repr = (reprfunc)FieldInit_repr,
    .tp_traverse = (traverseproc)FieldInit_traverse,
    .tp_clear = (inquiry)FieldInit_clear,
    WS_METHOD_SLOTS,
};

PyObject *
ws_field_init(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *owner, *fallback, *fields, *defaults;
    if (!PyArg_ParseTuple(args, "O!OO!O!:field_init", &PyType_Type, &owner, &fallback,
                          &PyTuple_Type, &fields, &PyTuple_Type, &defaults)) {
        return NULL;
    }
    Py_ssize_t nfields = PyTuple_GET_SIZE(fields), ndefaults = PyTuple_GET_SIZE(defaults);
    if (nfields > FIELD_MAX || ndefaults > nfields || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_ValueError, "field_init: at most 4 fields, a callable fallback");
        return NULL;
    }
    FieldInit *self = PyObject_GC_New(FieldInit, &ws_FieldInitType);
    if (self == NULL) {
        return NULL;
    }
    self->base.vectorcall = FieldInit_vectorcall;
    self->nfields = nfields;
    self->nrequired = nfields - ndefaults;
    Py_INCREF(owner);
    self->owner = (PyTypeObject *)owner;
    Py_INCREF(fallback);
    self->base.fallback = fallback;
    for (Py_ssize_t i = 0; i < FIELD_MAX; i++) {
        self->defaults[i] = NULL;
    }
    PyObject_GC_Track(self);
    for (Py_ssize_t i = 0; i < nfields; i++) {
        PyObject *name = PyTuple_GET_ITEM(fields, i);
        if (!PyUnicode_Check(name) ||
            ws_member_offset(self->owner, PyUnicode_AsUTF8(name), &self->offsets[i]) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "field names are str");
            }
            Py_DECREF(self);
            return NULL;
        }
        if (i >= self->nrequired) {
            self->defaults[i] = PyTuple_GET_ITEM(defaults, i - self->nrequired);
            Py_INCREF(self->defaults[i]);
        }
    }
    return (PyObject *)self;
}
