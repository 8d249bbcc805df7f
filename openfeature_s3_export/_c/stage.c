/* The caller's side of an evaluation: ExportHook.finally_after (hook.py) and the engine's
 * hand-off Engine.submit_python (_engine/_worker.py), each step for step. */
#include "speedups.h"
#include <structmember.h>

/* -- Submit --------------------------------------------------------------------------------- */

/* Engine.submit_python (_engine/_worker.py), step for step, over the engine's own attributes:
 * the caller's hand-off to the worker.  Anything unexpected goes to the Python version. */
typedef struct {
    PyObject_HEAD
    PyObject *state;      /* vars(engine): _queue, _max_queue and _wake_at are read per call */
    PyObject *refused;    /* engine._refused: the queue is full, closed or not started */
    PyObject *wake;       /* engine._wake_worker */
    PyObject *python;     /* engine.submit_python */
    PyObject *queue_type; /* collections.deque */
    PyObject *append;     /* collections.deque.append */
    vectorcallfunc vectorcall;
} Submit;

/* state[name] as a Py_ssize_t; -1 when it is missing or not an exact int (no error set) */
static Py_ssize_t
state_size(PyObject *state, PyObject *name)
{
    PyObject *v = PyDict_GetItemWithError(state, name);
    if (v == NULL || !PyLong_CheckExact(v)) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t n = PyLong_AsSsize_t(v);
    if (n == -1)
        PyErr_Clear();
    return n;
}

static PyObject *
submit_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Submit *self = (Submit *)callable;
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "submit(item)");
        return NULL;
    }
    PyObject *item = args[0];
    PyObject *queue = PyDict_GetItemWithError(self->state, str__queue);
    Py_ssize_t max_queue = state_size(self->state, str__max_queue);
    if (queue == NULL || (PyObject *)Py_TYPE(queue) != self->queue_type || max_queue < 0) {
        PyErr_Clear();
        return PyObject_CallOneArg(self->python, item);
    }
    Py_ssize_t queued = PyObject_Size(queue);
    if (queued < 0)
        return NULL;
    if (queued >= max_queue)
        return PyObject_CallOneArg(self->refused, item);
    PyObject *call[2] = {queue, item};
    PyObject *done = PyObject_Vectorcall(self->append, call, 2, NULL);
    if (done == NULL)
        return NULL;
    Py_DECREF(done);
    /* No other thread ran since the length was read: the append made it one more. */
    Py_ssize_t wake_at = state_size(self->state, str__wake_at);
    if (wake_at >= 0 && queued + 1 < wake_at)
        Py_RETURN_NONE;
    return PyObject_CallNoArgs(self->wake);
}

static int
submit_init(Submit *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"state", "refused", "wake", "python", NULL};
    PyObject *state, *refused, *wake, *python;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOO:Submit", kwlist, &PyDict_Type, &state,
                                     &refused, &wake, &python))
        return -1;
    PyObject *queue = PyDict_GetItemWithError(state, str__queue);
    if (queue == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "the engine has no _queue yet");
        return -1;
    }
    PyObject *append = PyObject_GetAttr((PyObject *)Py_TYPE(queue), str_append);
    if (append == NULL)
        return -1;
    Py_XSETREF(self->state, Py_NewRef(state));
    Py_XSETREF(self->refused, Py_NewRef(refused));
    Py_XSETREF(self->wake, Py_NewRef(wake));
    Py_XSETREF(self->python, Py_NewRef(python));
    Py_XSETREF(self->queue_type, Py_NewRef((PyObject *)Py_TYPE(queue)));
    Py_XSETREF(self->append, append);
    self->vectorcall = submit_vectorcall;
    return 0;
}

REFERENCES_GC(submit, Submit, state, append)

PyTypeObject SubmitType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openfeature_s3_export._speedups.Submit",
    .tp_doc = "Submit(state, refused, wake, python)(item): Engine.submit_python in C.",
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    REFERENCES_GC_SLOTS(submit, Submit),
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Submit, vectorcall),
};

/* -- FinallyAfter --------------------------------------------------------------------------- */

/* ExportHook.finally_after (hook.py), the definition this follows step for step: the duplicate
 * check on the intake's last_evaluation, the capture, the hand-off to the engine; any Exception
 * on the way is counted as a failed capture and never reaches the evaluation. */
typedef struct {
    PyObject_HEAD
    PyObject *intake;     /* exporter.Intake: last_evaluation and submit are read per call */
    PyObject *duplicate;  /* intake.duplicate_hook */
    PyObject *failed;     /* intake.capture_failed */
    Py_ssize_t last_slot, submit_slot; /* where intake keeps them (slot_offset), or -1 */
} FinallyAfter;

/* The intake's last_evaluation and submit are __slots__ of a class of ours: read and written
 * where its member descriptor keeps them (what the descriptor itself does, without the
 * attribute lookup around it, about 170 instructions each), else through getattr/setattr. */
static Py_ssize_t
slot_offset(PyObject *object, PyObject *name)
{
    PyObject *descr = PyObject_GetAttr((PyObject *)Py_TYPE(object), name);
    if (descr == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX && !(member->flags & READONLY))
            offset = member->offset;
    }
    Py_DECREF(descr);
    return offset;
}

static PyObject *
slot_get(PyObject *object, Py_ssize_t offset, PyObject *name)
{
    PyObject *value = offset < 0 ? NULL : *(PyObject **)((char *)object + offset);
    return value != NULL ? Py_NewRef(value) : PyObject_GetAttr(object, name); /* unset: its error */
}

static int
slot_set(PyObject *object, Py_ssize_t offset, PyObject *name, PyObject *value)
{
    if (offset < 0)
        return PyObject_SetAttr(object, name, value);
    Py_XSETREF(*(PyObject **)((char *)object + offset), Py_NewRef(value));
    return 0;
}

/* Where a keyword argument goes: 0 hook_context, 1 details, 2 hints, -1 none of them. */
static int
finally_slot(PyObject *name)
{
    /* The SDK passes its keywords as identifiers, which are interned: compared by identity
     * first, by value for anyone else. */
    if (name == str_hook_context)
        return 0;
    if (name == str_details)
        return 1;
    if (name == str_hints)
        return 2;
    if (!PyUnicode_Check(name))
        return -1;
    if (PyUnicode_Compare(name, str_hook_context) == 0)
        return 0;
    if (PyUnicode_Compare(name, str_details) == 0)
        return 1;
    if (PyUnicode_Compare(name, str_hints) == 0)
        return 2;
    return -1;
}

static PyObject *
finally_capture(FinallyAfter *self, PyObject *hook_context, PyObject *details)
{
    PyObject *evaluation = PyObject_GetAttr(hook_context, str_client_metadata);
    if (evaluation == NULL)
        return NULL;
    PyObject *last = slot_get(self->intake, self->last_slot, str_last_evaluation);
    if (last == NULL) {
        Py_DECREF(evaluation);
        return NULL;
    }
    Py_DECREF(last); /* compared by identity only; the intake keeps it */
    PyObject *result;
    if (evaluation == last && evaluation != Py_None) {
        result = PyObject_CallNoArgs(self->duplicate);
    }
    else if (slot_set(self->intake, self->last_slot, str_last_evaluation, evaluation) < 0) {
        result = NULL;
    }
    else {
        PyObject *record = make_record(hook_context, details, evaluation);
        PyObject *submit = record == NULL ? NULL : slot_get(self->intake, self->submit_slot, str_submit);
        result = submit == NULL ? NULL : PyObject_CallOneArg(submit, record);
        Py_XDECREF(submit);
        Py_XDECREF(record);
    }
    Py_DECREF(evaluation);
    return result;
}

/* Called as the SDK calls a stage, getattr(hook, "finally_after")(**kwargs): through tp_call,
 * so that the keyword dict is read as it is (a vectorcall would first unpack it into a new
 * array and tuple of names). */
static PyObject *
finally_call(PyObject *callable, PyObject *args, PyObject *kwargs)
{
    FinallyAfter *self = (FinallyAfter *)callable;
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    PyObject *given[3] = {NULL, NULL, NULL};
    if (nargs > 3)
        goto bad_arguments;
    for (Py_ssize_t i = 0; i < nargs; i++)
        given[i] = PyTuple_GET_ITEM(args, i);
    if (kwargs != NULL) {
        Py_ssize_t pos = 0;
        PyObject *name, *value;
        while (PyDict_Next(kwargs, &pos, &name, &value)) {
            int slot = finally_slot(name);
            if (slot < 0 || given[slot] != NULL)
                goto bad_arguments;
            given[slot] = value;
        }
    }
    if (given[0] == NULL || given[1] == NULL || given[2] == NULL)
        goto bad_arguments;
    /* Held while Python code may run (a snapshot, the duplicate counter): the SDK owns the dict. */
    Py_INCREF(given[0]);
    Py_INCREF(given[1]);
    PyObject *result = finally_capture(self, given[0], given[1]);
    Py_DECREF(given[0]);
    Py_DECREF(given[1]);
    if (result != NULL) {
        Py_DECREF(result);
        Py_RETURN_NONE;
    }
    /* except Exception: a capture bug must cost one counted event, never the evaluation */
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return NULL;
    PyErr_Clear();
    result = PyObject_CallNoArgs(self->failed);
    if (result == NULL)
        return NULL;
    Py_DECREF(result);
    Py_RETURN_NONE;
bad_arguments:
    PyErr_SetString(PyExc_TypeError, "finally_after(hook_context, details, hints)");
    return NULL;
}

static int
finally_init(FinallyAfter *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"intake", NULL};
    PyObject *intake, *duplicate = NULL, *failed = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:FinallyAfter", kwlist, &intake))
        return -1;
    if ((duplicate = PyObject_GetAttr(intake, str_duplicate_hook)) == NULL ||
        (failed = PyObject_GetAttr(intake, str_capture_failed)) == NULL) {
        Py_XDECREF(duplicate);
        return -1;
    }
    Py_XSETREF(self->intake, Py_NewRef(intake));
    Py_XSETREF(self->duplicate, duplicate);
    Py_XSETREF(self->failed, failed);
    self->last_slot = slot_offset(intake, str_last_evaluation);
    self->submit_slot = slot_offset(intake, str_submit);
    return 0;
}

REFERENCES_GC(finally, FinallyAfter, intake, failed)

PyTypeObject FinallyAfterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openfeature_s3_export._speedups.FinallyAfter",
    .tp_doc = "FinallyAfter(intake)(hook_context, details, hints): ExportHook.finally_after.",
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    REFERENCES_GC_SLOTS(finally, FinallyAfter),
    .tp_call = finally_call,
};

/* -- Returns -------------------------------------------------------------------------------- */

/* Returns(value, keywords)(...): *value*, whatever the arguments.  ExportHook's other stages and
 * supports_flag_value_type, which the SDK calls for every evaluation and which do nothing in
 * Python but cost a bound method and a frame each.  With *keywords* the instance is called
 * through tp_call, as the SDK calls stages (**kwargs); without, by vectorcall (positional). */
typedef struct {
    PyObject_HEAD
    PyObject *value;
    vectorcallfunc vectorcall; /* NULL with keywords: tp_call then takes the SDK's dict as is */
} Returns;

static PyObject *
returns_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return Py_NewRef(((Returns *)callable)->value);
}

static PyObject *
returns_call(PyObject *callable, PyObject *args, PyObject *kwargs)
{
    return Py_NewRef(((Returns *)callable)->value);
}

static int
returns_init(Returns *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"value", "keywords", NULL};
    PyObject *value;
    int keywords = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:Returns", kwlist, &value, &keywords))
        return -1;
    Py_XSETREF(self->value, Py_NewRef(value));
    self->vectorcall = keywords ? NULL : returns_vectorcall;
    return 0;
}

static PyObject *
returns_repr(Returns *self)
{
    return PyUnicode_FromFormat("Returns(%R)", self->value);
}

REFERENCES_GC(returns, Returns, value, value)

PyTypeObject ReturnsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openfeature_s3_export._speedups.Returns",
    .tp_doc = "Returns(value, keywords=False)(*args, **kwargs): value.",
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_repr = (reprfunc)returns_repr,
    REFERENCES_GC_SLOTS(returns, Returns),
    .tp_call = returns_call,
    .tp_vectorcall_offset = offsetof(Returns, vectorcall),
};
