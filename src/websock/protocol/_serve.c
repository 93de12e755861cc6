/*
 * The built-in server's read path in one C call: bytes in → frames → handle_in → frames →
 * bytes out, for the common read.
 *
 *   setup_serve(HttpConnection, ServerConnection, Session, Push, current, large_payload)
 *   read_method(data_received) -> ReadMethod      HttpConnection.data_received, with the
 *                                                 common read taken to serve()
 *
 * serve() does exactly what HttpConnection.data_received does with a read on an
 * upgraded connection, with the same effects and in the same order, except that the
 * reply is written before the read's counters and idle-timer stamp are applied (see Read):
 *
 *     events = conn.receive_data(data)        (protocol/connection.py)
 *     if events: session.feed(events)         (runtime/session.py)
 *     if a large payload is pending: protocol._read_large(True)
 *
 * but with no Python frame of its own: per message, the only Python that runs is the
 * handler's handle_in (an async one has its first step run here, as Session._call does,
 * and is handed to a task only if it suspends). It returns 0, having done nothing at
 * all, when the read is not one it mirrors (the connection mid-message or with buffered
 * input, an async callback in flight, exact types other than the classes given to
 * setup_serve); the caller then takes the Python path. Everything uncommon inside
 * a read it takes (a control frame, a partial frame, a compressed frame, invalid UTF-8, a
 * result other than Push(one message), a handler that raises or suspends, a large payload,
 * compression on the way out) is handed to the
 * same Python methods the Python path calls, at the same point. The Python path is the
 * twin: the server tests run both (tests/implementations.py, tests/server/test_fast_read.py).
 *
 * The objects are read through their slots' offsets (taken from the classes' member
 * descriptors by setup_serve, which refuses classes whose slots are missing), and only
 * after checking each object's exact type, as CPython's own member descriptors do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

#include "_speedups.h"

static struct {
    int ready;
    PyTypeObject *protocol, *conn, *session, *push;
    PyObject *current; /* the ContextVar handlers read their connection from */
    Py_ssize_t large_payload;
    /* HttpConnection */
    Py_ssize_t p_conn, p_transport, p_session, p_lingering;
    /* ServerConnection */
    Py_ssize_t c_buf, c_client, c_deflate, c_in_frame, c_msg_op, c_out, c_remaining,
        c_small_ok, c_validate, c_bytes_in, c_bytes_out, c_close_received, c_close_sent,
        c_error, c_frames_out;
    /* Session */
    Py_ssize_t s_last_in, s_time, s_frames_in, s_task, s_handle, s_in_async, s_suspended, s_open,
        s_messages_in, s_handle_in, s_state, s_sink, s_frames_out, s_messages_out,
        s_transport_closed, s_transport, s_write_paused;
    /* Push */
    Py_ssize_t push_frames, push_state;
} F;

static PyObject *str_receive_rest, *str_read_large, *str_defer, *str_start_task, *str_event,
    *str_apply, *str_fail, *str_handle_in, *str_send_frames, *str_flush, *str_is_closing,
    *str_write, *str_check_write_bound, *str_not_utf8;

#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* Store `value` (a new reference, or NULL after a failed call) into a slot. */
static int
set_slot(PyObject *obj, Py_ssize_t off, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    Py_XSETREF(SLOT(obj, off), value);
    return 0;
}

/* obj.<slot> += by, for the int counters. */
static int
add_to_slot(PyObject *obj, Py_ssize_t off, Py_ssize_t by)
{
    PyObject *old = SLOT(obj, off);
    if (old == NULL) {
        PyErr_SetString(PyExc_AttributeError, "counter slot is not set");
        return -1;
    }
    PyObject *delta = PyLong_FromSsize_t(by);
    if (delta == NULL) {
        return -1;
    }
    PyObject *sum = PyNumber_Add(old, delta);
    Py_DECREF(delta);
    return set_slot(obj, off, sum);
}

/* One read through serve(). The reply goes out as early as it can: the read's last
 * message is written as soon as its handler returns (when nothing is queued before it),
 * and the bookkeeping nobody reads inside a read (the counters and the idle timer's
 * clock, which only the stats and the timer callbacks look at) is applied once, after
 * that write: the peer gets its reply sooner, for the same total work. */
typedef struct {
    PyObject *protocol, *conn, *session;
    Py_ssize_t bytes_in, frames_in, messages_in, frames_out, messages_out, conn_frames_out,
        conn_bytes_out;
    int last; /* delivering the read's last event */
} Read;

/* Add the read's counters to their slots and stamp the session's last inbound activity
 * (Session.feed's `_last_in = _time()`), keeping an exception in flight. */
static int
apply_read(Read *rd, int stamp)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    struct {
        PyObject *obj;
        Py_ssize_t offset, by;
    } counters[] = {
        {rd->conn, F.c_bytes_in, rd->bytes_in},
        {rd->conn, F.c_frames_out, rd->conn_frames_out},
        {rd->conn, F.c_bytes_out, rd->conn_bytes_out},
        {rd->session, F.s_frames_in, rd->frames_in},
        {rd->session, F.s_messages_in, rd->messages_in},
        {rd->session, F.s_frames_out, rd->frames_out},
        {rd->session, F.s_messages_out, rd->messages_out},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]) && rc == 0; i++) {
        if (counters[i].by != 0) {
            rc = add_to_slot(counters[i].obj, counters[i].offset, counters[i].by);
        }
    }
    if (rc == 0 && stamp) {
        rc = set_slot(rd->session, F.s_last_in,
                      PyObject_CallNoArgs(SLOT(rd->session, F.s_time)));
    }
    if (type != NULL) { /* the first exception wins */
        if (rc < 0) {
            PyErr_Clear();
        }
        PyErr_Restore(type, value, traceback);
        return -1;
    }
    return rc;
}

typedef struct {
    const char *name;
    Py_ssize_t *offset;
} SlotName;

static int
member_offsets(PyTypeObject *type, const SlotName *names)
{
    for (; names->name != NULL; names++) {
        if (ws_member_offset(type, names->name, names->offset) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
intern_names(void)
{
    struct {
        PyObject **target;
        const char *text;
    } names[] = {
        {&str_receive_rest, "receive_rest"},
        {&str_read_large, "_read_large"},
        {&str_defer, "_defer"},
        {&str_start_task, "_start_task"},
        {&str_event, "_event"},
        {&str_apply, "_apply"},
        {&str_fail, "_fail"},
        {&str_handle_in, "handle_in"},
        {&str_send_frames, "send_frames"},
        {&str_flush, "flush"},
        {&str_is_closing, "is_closing"},
        {&str_write, "write"},
        {&str_check_write_bound, "_check_write_bound"},
        {&str_not_utf8, "_not_utf8"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].target == NULL) {
            *names[i].target = PyUnicode_InternFromString(names[i].text);
            if (*names[i].target == NULL) {
                return -1;
            }
        }
    }
    return 0;
}

PyObject *
ws_setup_serve(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *protocol, *conn, *session, *push, *current;
    Py_ssize_t large_payload;
    if (!PyArg_ParseTuple(args, "O!O!O!O!On:setup_serve", &PyType_Type, &protocol,
                          &PyType_Type, &conn, &PyType_Type, &session, &PyType_Type, &push,
                          &current, &large_payload)) {
        return NULL;
    }
    F.ready = 0;
    const SlotName protocol_slots[] = {
        {"_conn", &F.p_conn},
        {"_transport", &F.p_transport},
        {"_session", &F.p_session},
        {"_lingering", &F.p_lingering},
        {NULL, NULL}};
    const SlotName conn_slots[] = {
        {"_buf", &F.c_buf},
        {"_client", &F.c_client},
        {"_deflate", &F.c_deflate},
        {"_in_frame", &F.c_in_frame},
        {"_msg_op", &F.c_msg_op},
        {"_out", &F.c_out},
        {"_remaining", &F.c_remaining},
        {"_small_ok", &F.c_small_ok},
        {"_validate", &F.c_validate},
        {"bytes_in", &F.c_bytes_in},
        {"bytes_out", &F.c_bytes_out},
        {"close_received", &F.c_close_received},
        {"close_sent", &F.c_close_sent},
        {"error", &F.c_error},
        {"frames_out", &F.c_frames_out},
        {NULL, NULL},
    };
    const SlotName session_slots[] = {
        {"_last_in", &F.s_last_in},
        {"_time", &F.s_time},
        {"_frames_in", &F.s_frames_in},
        {"_task", &F.s_task},
        {"handle", &F.s_handle},
        {"_in_async", &F.s_in_async},
        {"_suspended", &F.s_suspended},
        {"_open", &F.s_open},
        {"_messages_in", &F.s_messages_in},
        {"_handle_in", &F.s_handle_in},
        {"_state", &F.s_state},
        {"_sink", &F.s_sink},
        {"_frames_out", &F.s_frames_out},
        {"_messages_out", &F.s_messages_out},
        {"_transport_closed", &F.s_transport_closed},
        {"_transport", &F.s_transport},
        {"_write_paused", &F.s_write_paused},
        {NULL, NULL},
    };
    const SlotName push_slots[] = {
        {"frames", &F.push_frames}, {"state", &F.push_state}, {NULL, NULL}};
    if (ws_text_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_speedups.setup() was not called");
        return NULL;
    }
    if (member_offsets((PyTypeObject *)protocol, protocol_slots) < 0 ||
        member_offsets((PyTypeObject *)conn, conn_slots) < 0 ||
        member_offsets((PyTypeObject *)session, session_slots) < 0 ||
        member_offsets((PyTypeObject *)push, push_slots) < 0 || intern_names() < 0) {
        return NULL;
    }
    Py_INCREF(protocol);
    Py_INCREF(conn);
    Py_INCREF(session);
    Py_INCREF(push);
    Py_INCREF(current);
    Py_XSETREF(F.protocol, (PyTypeObject *)protocol);
    Py_XSETREF(F.conn, (PyTypeObject *)conn);
    Py_XSETREF(F.session, (PyTypeObject *)session);
    Py_XSETREF(F.push, (PyTypeObject *)push);
    Py_XSETREF(F.current, current);
    F.large_payload = large_payload;
    F.ready = 1;
    Py_RETURN_NONE;
}

/* Call obj.name(*args) and drop the result. */
static int
call_method(PyObject *obj, PyObject *name, PyObject *const *args, size_t nargs)
{
    PyObject *stack[4];
    stack[0] = obj;
    for (size_t i = 0; i < nargs; i++) {
        stack[i + 1] = args[i];
    }
    PyObject *result =
        PyObject_VectorcallMethod(name, stack, (nargs + 1) | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* session._fail("handle_in", exc) for the exception in flight, with it as the handled
 * exception meanwhile, as inside Python's `except Exception as exc:`. */
static int
fail_handler(PyObject *session)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    PyObject *saved_type, *saved_value, *saved_traceback;
    PyErr_GetExcInfo(&saved_type, &saved_value, &saved_traceback);
    Py_INCREF(value);
    PyErr_SetExcInfo(type, value, traceback); /* steals type, value, traceback */
    PyObject *args[2] = {str_handle_in, value};
    int rc = call_method(session, str_fail, args, 2);
    Py_DECREF(value);
    PyErr_SetExcInfo(saved_type, saved_value, saved_traceback);
    return rc;
}

/* HttpConnection.flush's common case: `data` is all there is to send; write it unless the
 * transport is closing. */
static int
write_out(PyObject *protocol, PyObject *data)
{
    PyObject *stream = SLOT(protocol, F.p_transport);
    if (stream == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_transport");
        return -1;
    }
    Py_INCREF(stream);
    int rc = -1;
    PyObject *closing = PyObject_CallMethodNoArgs(stream, str_is_closing);
    int is_closing = closing == NULL ? -1 : PyObject_IsTrue(closing);
    Py_XDECREF(closing);
    if (is_closing == 0) {
        rc = call_method(stream, str_write, &data, 1);
    }
    else if (is_closing > 0) {
        rc = 0;
    }
    Py_DECREF(stream);
    return rc;
}

/* Whether the session's flush would be HttpConnection.flush on this read's connection,
 * so that a frame can be written without going through conn._out. */
static int
flushes_to_protocol(Read *rd)
{
    return SLOT(rd->session, F.s_transport_closed) == Py_False &&
           SLOT(rd->session, F.s_transport) == rd->protocol &&
           SLOT(rd->protocol, F.p_conn) == rd->conn;
}

/* session._sink.send_frames((message,)), where message is a str or bytes: when the sink
 * is `conn` and a small uncompressed frame will do, the bytes are built here as
 * ServerConnection.send_frames would (one object, header and payload together); and if
 * it is the read's last message with nothing queued before it, it is written at once
 * (what the flush at the end of the read would do with it). */
static int
send_message(Read *rd, PyObject *sink, PyObject *message)
{
    PyObject *conn = rd->conn;
    if (sink == conn && SLOT(conn, F.c_deflate) == Py_None &&
        SLOT(conn, F.c_client) == Py_False && SLOT(conn, F.c_close_sent) == Py_False) {
        const char *payload;
        Py_ssize_t n;
        unsigned char opcode;
        if (PyUnicode_CheckExact(message)) {
            payload = PyUnicode_AsUTF8AndSize(message, &n);
            if (payload == NULL) {
                return -1; /* as str.encode("utf-8") raises: lone surrogates */
            }
            opcode = 0x81;
        }
        else {
            payload = PyBytes_AS_STRING(message);
            n = PyBytes_GET_SIZE(message);
            opcode = 0x82;
        }
        PyObject *out = SLOT(conn, F.c_out);
        if (n < 126 && out != NULL && PyList_CheckExact(out)) {
            /* RFC 6455 §5.2: FIN + opcode, then the length in the 7-bit field; unmasked
             * from a server (§5.1). */
            PyObject *frame = PyBytes_FromStringAndSize(NULL, n + 2);
            if (frame == NULL) {
                return -1;
            }
            unsigned char *p = (unsigned char *)PyBytes_AS_STRING(frame);
            p[0] = opcode;
            p[1] = (unsigned char)n;
            memcpy(p + 2, payload, (size_t)n);
            int rc;
            if (rd->last && PyList_GET_SIZE(out) == 0 && flushes_to_protocol(rd)) {
                rc = write_out(rd->protocol, frame);
            }
            else {
                rc = PyList_Append(out, frame);
            }
            Py_DECREF(frame);
            rd->conn_frames_out += 1;
            rd->conn_bytes_out += n + 2;
            return rc;
        }
    }
    PyObject *frames = PyTuple_Pack(1, message);
    if (frames == NULL) {
        return -1;
    }
    int rc = call_method(sink, str_send_frames, &frames, 1);
    Py_DECREF(frames);
    return rc;
}

/* One Text/Binary event through handle_in: Session.feed's fast path for a sync handle_in;
 * Session._call's for an async one, whose first step runs here (coroutine.send(None)).
 * Returns 0, or 1 if that coroutine suspended (session._suspended is set, as _call sets
 * it), or -1 with an exception. */
static int
deliver(Read *rd, PyObject *handle_in, PyObject *event, int is_async)
{
    PyObject *session = rd->session;
    rd->messages_in += 1;
    PyObject *state = SLOT(session, F.s_state);
    if (state == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_state");
        return -1;
    }
    PyObject *args[2] = {event, state};
    Py_INCREF(state);
    PyObject *result = PyObject_Vectorcall(handle_in, args, 2, NULL);
    Py_DECREF(state);
    if (result != NULL && is_async) {
        PyObject *value;
        PySendResult sent = PyIter_Send(result, Py_None, &value);
        if (sent == PYGEN_RETURN) {
            Py_SETREF(result, value);
        }
        else if (sent == PYGEN_NEXT) {
            /* It awaits something: a task finishes it (Session._start_task). */
            return set_slot(session, F.s_suspended,
                            Py_BuildValue("(NNO)", result, value, str_handle_in)) < 0
                       ? -1
                       : 1;
        }
        else {
            Py_CLEAR(result);
        }
    }
    if (result == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return -1; /* BaseException (e.g. KeyboardInterrupt) is not the handler's */
        }
        return fail_handler(session);
    }
    int rc;
    if (Py_TYPE(result) == F.push) {
        PyObject *message = SLOT(result, F.push_frames);
        if (message != NULL && (PyList_CheckExact(message) || PyTuple_CheckExact(message)) &&
            PySequence_Fast_GET_SIZE(message) == 1) {
            /* Push([message]) means Push(message). */
            message = PySequence_Fast_GET_ITEM(message, 0);
        }
        if (message != NULL && Py_TYPE(message) == ws_text_type) {
            message = SLOT(message, ws_text_offset);
        }
        else if (message != NULL && Py_TYPE(message) == ws_binary_type) {
            message = SLOT(message, ws_binary_offset);
        }
        if (message != NULL && (PyUnicode_CheckExact(message) || PyBytes_CheckExact(message)) &&
            SLOT(session, F.s_open) == Py_True) {
            /* Push(message): its data goes out as is. (Unless handle_in ended the session:
             * _apply keeps the state and sends nothing after our close frame.) */
            PyObject *new_state = SLOT(result, F.push_state);
            Py_XINCREF(new_state);
            Py_INCREF(message);
            rc = set_slot(session, F.s_state, new_state);
            if (rc == 0) {
                rc = send_message(rd, SLOT(session, F.s_sink), message);
                if (rc < 0 && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
                    /* A str with a lone surrogate: a handler error (1011), as feed does. */
                    PyErr_Clear();
                    PyObject *bad_args[2] = {str_handle_in, message};
                    rc = call_method(session, str_not_utf8, bad_args, 2);
                    Py_DECREF(message);
                    Py_DECREF(result);
                    return rc;
                }
            }
            Py_DECREF(message);
            Py_DECREF(result);
            if (rc < 0) {
                return -1;
            }
            rd->frames_out += 1;
            rd->messages_out += 1;
            return 0;
        }
    }
    PyObject *apply_args[2] = {result, str_handle_in};
    rc = call_method(session, str_apply, apply_args, 2);
    Py_DECREF(result);
    return rc;
}

/* Session.feed(events), from its first line to its last (its counters and _last_in go
 * to the Read, applied after the reply). */
static int
feed(Read *rd, PyObject *events)
{
    PyObject *session = rd->session;
    Py_ssize_t n = PyList_GET_SIZE(events);
    /* (_last_in, the idle timer's mark of inbound activity, is stamped by apply_read.) */
    rd->frames_in += n;
    /* (No async callback is in flight: serve() checked _task before taking the read,
     * and nothing since has run Python code that could start one.) */
    PyObject *token = PyContextVar_Set(F.current, SLOT(session, F.s_handle));
    if (token == NULL) {
        return -1;
    }
    int rc = 0;
    PyObject *handle_in = SLOT(session, F.s_handle_in);
    Py_INCREF(handle_in);
    int is_async = SLOT(session, F.s_in_async) == Py_True;
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        PyObject *event = PyList_GET_ITEM(events, i);
        PyTypeObject *kind = Py_TYPE(event);
        Py_INCREF(event);
        int suspended = 0;
        if ((kind == ws_text_type || kind == ws_binary_type) &&
            SLOT(session, F.s_open) == Py_True) {
            rd->last = i == n - 1;
            rc = deliver(rd, handle_in, event, is_async);
            if (rc == 1) {
                rc = 0;
                suspended = 1;
            }
        }
        else {
            PyObject *taken = PyObject_CallMethodOneArg(session, str_event, event);
            int truth = taken == NULL ? -1 : PyObject_IsTrue(taken);
            Py_XDECREF(taken);
            rc = truth < 0 ? -1 : 0;
            suspended = truth == 0;
        }
        Py_DECREF(event);
        if (suspended) {
            /* A callback suspended (feed: _event() returned False): the rest of the read
             * waits for the task that finishes it. */
            PyObject *rest = PyList_GetSlice(events, i + 1, n);
            if (rest == NULL || call_method(session, str_defer, &rest, 1) < 0 ||
                call_method(session, str_start_task, NULL, 0) < 0) {
                rc = -1;
            }
            Py_XDECREF(rest);
            break;
        }
    }
    Py_DECREF(handle_in);
    /* finally: current.reset(token), keeping an exception in flight. */
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (PyContextVar_Reset(F.current, token) < 0) {
        rc = -1;
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
    }
    else {
        PyErr_Restore(type, value, traceback);
    }
    Py_DECREF(token);
    return rc;
}

/* Session._finish_entry() as feed inlines it: one flush per read, then the write bound. */
static int
finish_entry(Read *rd)
{
    PyObject *session = rd->session;
    if (SLOT(session, F.s_transport_closed) != Py_False) {
        return 0;
    }
    PyObject *out = SLOT(rd->conn, F.c_out);
    if (flushes_to_protocol(rd) && out != NULL && PyList_CheckExact(out) &&
        PyList_GET_SIZE(out) <= 1) {
        /* HttpConnection.flush's common cases: nothing left (the reply went out already),
         * or one piece, one write. */
        if (PyList_GET_SIZE(out) == 1) {
            PyObject *data = PyList_GET_ITEM(out, 0);
            Py_INCREF(data);
            int rc = PyList_SetSlice(out, 0, 1, NULL);
            if (rc == 0) {
                rc = write_out(rd->protocol, data);
            }
            Py_DECREF(data);
            if (rc < 0) {
                return -1;
            }
        }
    }
    else if (call_method(SLOT(session, F.s_transport), str_flush, NULL, 0) < 0) {
        return -1;
    }
    if (SLOT(session, F.s_write_paused) == Py_True && SLOT(session, F.s_open) == Py_True) {
        return call_method(session, str_check_write_bound, NULL, 0);
    }
    return 0;
}

static int
is_zero(PyObject *value)
{
    return value != NULL && PyLong_CheckExact(value) && _PyLong_Sign(value) == 0;
}

/* 1: the read was handled; 0: nothing was done, take the Python path; -1: an exception. */
static int
serve(PyObject *protocol, PyObject *conn, PyObject *session, PyObject *data)
{
    /* Only the reads the Python path would handle exactly like this; otherwise nothing
     * has happened yet and the caller takes the Python path. (ReadMethod checked F.ready
     * and the protocol's type.) */
    if (!PyBytes_CheckExact(data) || Py_TYPE(conn) != F.conn || Py_TYPE(session) != F.session) {
        return 0;
    }
    PyObject *buf = SLOT(conn, F.c_buf);
    PyObject *validate = SLOT(conn, F.c_validate);
    if (buf == NULL || !PyByteArray_CheckExact(buf) || PyByteArray_GET_SIZE(buf) != 0 ||
        SLOT(conn, F.c_close_received) != Py_False || SLOT(conn, F.c_error) != Py_None ||
        SLOT(conn, F.c_in_frame) != Py_False || SLOT(conn, F.c_small_ok) != Py_True ||
        !is_zero(SLOT(conn, F.c_msg_op)) || (validate != Py_True && validate != Py_False) ||
        SLOT(session, F.s_task) != Py_None ||
        (SLOT(session, F.s_in_async) != Py_False && SLOT(session, F.s_in_async) != Py_True) ||
        SLOT(session, F.s_handle_in) == NULL || SLOT(session, F.s_handle) == NULL ||
        SLOT(session, F.s_time) == NULL) {
        return 0;
    }
    Py_INCREF(protocol);
    Py_INCREF(conn);
    Py_INCREF(session);
    int rc = -1;
    Py_ssize_t end = PyBytes_GET_SIZE(data);
    Read rd = {.protocol = protocol, .conn = conn, .session = session, .bytes_in = end};
    PyObject *events = PyList_New(0);
    if (events == NULL) {
        goto done;
    }
    int bad_utf8 = 0;
    Py_ssize_t pos = ws_parse_small_run((const unsigned char *)PyBytes_AS_STRING(data), 0, end,
                                        events, validate == Py_True, &bad_utf8);
    if (pos < 0) {
        goto done;
    }
    if (pos != end) {
        /* Not all small frames: the general parser takes the rest (receive_rest). */
        PyObject *at = PyLong_FromSsize_t(bad_utf8 ? -1 - pos : pos);
        if (at == NULL) {
            goto done;
        }
        PyObject *rest = PyObject_CallMethodObjArgs(conn, str_receive_rest, data, events, at, NULL);
        Py_DECREF(at);
        if (rest == NULL) {
            goto done;
        }
        Py_SETREF(events, rest);
        if (!PyList_CheckExact(events)) {
            PyErr_SetString(PyExc_TypeError, "receive_rest must return a list");
            goto done;
        }
    }
    if (PyList_GET_SIZE(events) > 0 && (feed(&rd, events) < 0 || finish_entry(&rd) < 0)) {
        goto done;
    }
    /* conn.large_payload_pending(): let the event loop read into our buffer instead. */
    if (SLOT(conn, F.c_in_frame) == Py_True) {
        PyObject *remaining = SLOT(conn, F.c_remaining);
        Py_ssize_t left = remaining == NULL ? -1 : PyLong_AsSsize_t(remaining);
        if (left == -1 && PyErr_Occurred()) {
            goto done;
        }
        if (left >= F.large_payload) {
            PyObject *yes = Py_True;
            if (call_method(protocol, str_read_large, &yes, 1) < 0) {
                goto done;
            }
        }
    }
    rc = 0;
done:
    /* After the reply: the counters, and _last_in if the read held frames (as feed). */
    if (apply_read(&rd, events != NULL && PyList_GET_SIZE(events) > 0) < 0) {
        rc = -1;
    }
    Py_XDECREF(events);
    Py_DECREF(protocol);
    Py_DECREF(conn);
    Py_DECREF(session);
    return rc < 0 ? -1 : 1;
}

/* ---- ReadMethod: HttpConnection.data_received with its first lines in C ---------------------
 *
 *   read_method(fallback) -> ReadMethod
 *
 * The event loop calls protocol.data_received(data) once per read. As a method
 * descriptor (bound like a function, no Python frame when called), this takes an upgraded
 * connection's read straight to serve(); anything else, or a read serve() declines, goes
 * to `fallback`, the Python data_received, unchanged.
 */

static PyObject *
ReadMethod_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                      PyObject *kwnames)
{
    WsMethod *self = (WsMethod *)callable;
    if (kwnames == NULL && PyVectorcall_NARGS(nargsf) == 2 && F.ready &&
        PyObject_TypeCheck(args[0], F.protocol)) {
        PyObject *protocol = args[0];
        PyObject *conn = SLOT(protocol, F.p_conn);
        PyObject *session = SLOT(protocol, F.p_session);
        if (conn != NULL && conn != Py_None && session != NULL &&
            SLOT(protocol, F.p_lingering) == Py_False) {
            int rc = serve(protocol, conn, session, args[1]);
            if (rc < 0) {
                return NULL;
            }
            if (rc > 0) {
                Py_RETURN_NONE;
            }
        }
    }
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

PyTypeObject ws_ReadMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "websock.protocol._speedups.ReadMethod",
    .tp_basicsize = sizeof(WsMethod),
    .tp_traverse = ws_method_traverse,
    .tp_clear = ws_method_clear,
    WS_METHOD_SLOTS,
};

PyObject *
ws_read_method(PyObject *module, PyObject *fallback)
{
    (void)module;
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "read_method(fallback): a callable");
        return NULL;
    }
    WsMethod *self = PyObject_GC_New(WsMethod, &ws_ReadMethodType);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = ReadMethod_vectorcall;
    Py_INCREF(fallback);
    self->fallback = fallback;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}
