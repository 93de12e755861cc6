/*
 * What the C callables that stand in for Python methods share (FieldInit in _fieldinit.c,
 * ReadMethod in _serve.c): each wraps a Python function, its fallback and twin, and binds
 * like a function. The type is a method descriptor, so a call through the class or an
 * instance reaches the C vectorcall with no bound method made; `instance.name` (what an
 * event loop keeps, say) is a bound method. Introspection sees the fallback:
 * `__wrapped__`, and its `__name__`, `__qualname__`, `__doc__`, `__module__`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "_speedups.h"

PyObject *
ws_method_get(PyObject *self, PyObject *obj, PyObject *type)
{
    (void)type;
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

PyObject *
ws_method_getattro(PyObject *self, PyObject *name)
{
    PyObject *value = PyObject_GenericGetAttr(self, name);
    if (value != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return value;
    }
    PyErr_Clear();
    return PyObject_GetAttr(((WsMethod *)self)->fallback, name);
}

static PyObject *
method_doc(WsMethod *self, void *closure)
{
    (void)closure;
    return PyObject_GetAttrString(self->fallback, "__doc__");
}

int
ws_method_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((WsMethod *)self)->fallback);
    return 0;
}

int
ws_method_clear(PyObject *self)
{
    Py_CLEAR(((WsMethod *)self)->fallback);
    return 0;
}

void
ws_method_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_TYPE(self)->tp_clear(self);
    Py_TYPE(self)->tp_free(self);
}

PyMemberDef ws_method_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(WsMethod, fallback), READONLY,
     "the Python function this stands in for"},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(WsMethod, vectorcall), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

PyGetSetDef ws_method_getset[] = {
    {"__doc__", (getter)method_doc, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
