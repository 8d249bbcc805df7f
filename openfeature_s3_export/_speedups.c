/* Optional C versions of the per-event hot paths (see docs/performance.md).
 *
 * evaluation_record(hook_context, details): the capture record, on the caller's thread,
 *     identical to openfeature_s3_export._capture.py_evaluation_record.
 * Submit(...)(item): the engine's hand-off of one item to its worker, on the caller's thread,
 *     step for step as Engine.submit_python writes it.
 * FinallyAfter(intake)(hook_context, details, hints): ExportHook.finally_after, on the caller's
 *     thread, step for step as hook.py writes it.
 * LineJoiner(...)(record): an evaluation's encoded line from the line parts RowBuilder keeps
 *     per flag outcome, on the worker thread, identical to RowBuilder.encode_python.
 *
 * Each takes only the common case and hands anything else to the Python code it mirrors, so
 * the Python modules stay the one definition of the behaviour; tests/test_speedups.py checks
 * that both paths give the same results, value for value and byte for byte.  Nothing here
 * knows OpenFeature beyond the attribute and argument names the capture reads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

/* -- module state (one interpreter: single-phase init) ------------------------------------ */

static PyObject *str_value, *str_default_value, *str_evaluation_context, *str_attributes,
    *str_provider_metadata, *str_client_metadata, *str_targeting_key, *str_flag_key, *str_flag_type,
    *str_variant, *str_reason, *str_error_code, *str_error_message, *str_flag_metadata, *str_name,
    *str_domain, *str_hook_context, *str_details, *str_hints, *str_last_evaluation, *str_submit,
    *str_duplicate_hook, *str_capture_failed, *str__queue, *str__max_queue, *str__wake_at, *str_append,
    *str_kind, *str_ms, *str_at, *str_id_prefix, *str_time_prefix;
static PyObject *evaluation_kind;     /* the int 0: capture.EVALUATION */
static PyObject *snapshot_fn;         /* _snapshot.snapshot */
static PyObject *snapshot_attrs_fn;   /* _snapshot.snapshot_attributes */

/* -- capture ------------------------------------------------------------------------------- */

static inline int
is_immutable(PyObject *v)
{
    /* isinstance(v, (bool, str, int, float, NoneType)) */
    return v == Py_None || PyUnicode_Check(v) || PyLong_Check(v) || PyFloat_Check(v);
}

static PyObject *
copy_value(PyObject *v)
{
    if (is_immutable(v))
        return Py_NewRef(v);
    return PyObject_CallOneArg(snapshot_fn, v);
}

static PyObject *
copy_attributes(PyObject *attributes)
{
    /* A plain dict of JSON scalars is copied here; anything else goes to
     * snapshot_attributes, which makes the same decision in Python. */
    if (PyDict_CheckExact(attributes)) {
        Py_ssize_t pos = 0;
        PyObject *key, *v;
        int plain = 1;
        while (PyDict_Next(attributes, &pos, &key, &v)) {
            PyTypeObject *t = Py_TYPE(v);
            if (t == &PyUnicode_Type || t == &PyLong_Type || t == &PyBool_Type || v == Py_None)
                continue;
            if (t == &PyFloat_Type) {
                double d = PyFloat_AS_DOUBLE(v);
                if (d - d == 0.0) /* finite */
                    continue;
            }
            plain = 0;
            break;
        }
        if (plain)
            return PyDict_Copy(attributes);
    }
    return PyObject_CallOneArg(snapshot_attrs_fn, attributes);
}

static PyObject *
now_ns(void)
{
#ifdef CLOCK_REALTIME
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        return PyLong_FromLongLong((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
#endif
    PyErr_SetString(PyExc_OSError, "clock_gettime(CLOCK_REALTIME) failed");
    return NULL;
}

/* `attribute.name if attribute is not None else None`, stealing the reference to attribute */
static PyObject *
name_of(PyObject *owner, PyObject *name)
{
    if (owner == NULL || owner == Py_None)
        return owner;
    PyObject *v = PyObject_GetAttr(owner, name);
    Py_DECREF(owner);
    return v;
}

/* `value or None`, stealing the reference */
static PyObject *
or_none(PyObject *v)
{
    if (v == NULL)
        return NULL;
    int truth = PyObject_IsTrue(v);
    if (truth < 0) {
        Py_DECREF(v);
        return NULL;
    }
    if (truth)
        return v;
    Py_DECREF(v);
    return Py_NewRef(Py_None);
}

/* The capture record of one evaluation; *client* is hook_context.client_metadata when the
 * caller has read it already (borrowed), else NULL. */
static PyObject *
make_record(PyObject *hook_context, PyObject *details, PyObject *client)
{
    if (snapshot_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_speedups.bind() was not called");
        return NULL;
    }
    PyObject *record = PyTuple_New(15);
    if (record == NULL)
        return NULL;
    PyObject *v, *context = NULL, *attributes = NULL;
    /* The slots of a new tuple are NULL, which its deallocator skips: on failure, drop it. */
#define PUT(i, expr)                   \
    do {                               \
        v = (expr);                    \
        if (v == NULL)                 \
            goto fail;                 \
        PyTuple_SET_ITEM(record, i, v); \
    } while (0)
    PyTuple_SET_ITEM(record, 0, Py_NewRef(evaluation_kind));
    if ((v = PyObject_GetAttr(details, str_value)) == NULL)
        goto fail;
    PyObject *copy = copy_value(v);
    Py_DECREF(v);
    PUT(7, copy);
    if ((v = PyObject_GetAttr(hook_context, str_default_value)) == NULL)
        goto fail;
    copy = copy_value(v);
    Py_DECREF(v);
    PUT(6, copy);
    if ((context = PyObject_GetAttr(hook_context, str_evaluation_context)) == NULL)
        goto fail;
    if ((attributes = PyObject_GetAttr(context, str_attributes)) == NULL)
        goto fail;
    PUT(1, now_ns());
    int truth = PyObject_IsTrue(attributes);
    if (truth < 0)
        goto fail;
    PUT(2, truth ? copy_attributes(attributes) : Py_NewRef(Py_None));
    PUT(3, PyObject_GetAttr(context, str_targeting_key));
    PUT(4, PyObject_GetAttr(hook_context, str_flag_key));
    PUT(5, PyObject_GetAttr(hook_context, str_flag_type));
    PUT(8, PyObject_GetAttr(details, str_variant));
    PUT(9, PyObject_GetAttr(details, str_reason));
    PUT(10, PyObject_GetAttr(details, str_error_code));
    PUT(11, PyObject_GetAttr(details, str_error_message));
    PUT(12, or_none(PyObject_GetAttr(details, str_flag_metadata)));
    PUT(13, name_of(PyObject_GetAttr(hook_context, str_provider_metadata), str_name));
    PUT(14, name_of(client != NULL ? Py_NewRef(client) : PyObject_GetAttr(hook_context, str_client_metadata),
                    str_domain));
#undef PUT
    Py_DECREF(attributes);
    Py_DECREF(context);
    /* Out of the collector's sight: only the queue refers to the new record, so no reference
     * cycle can pass through it, and a young-generation collection (which the caller's own
     * allocations trigger) would otherwise walk every queued record. */
    PyObject_GC_UnTrack(record);
    return record;
fail:
    Py_XDECREF(attributes);
    Py_XDECREF(context);
    Py_DECREF(record);
    return NULL;
}

static PyObject *
evaluation_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "evaluation_record(hook_context, details)");
        return NULL;
    }
    return make_record(args[0], args[1], NULL);
}

static PyObject *
bind(PyObject *module, PyObject *args)
{
    PyObject *snapshot, *snapshot_attributes;
    if (!PyArg_ParseTuple(args, "OO:bind", &snapshot, &snapshot_attributes))
        return NULL;
    Py_XSETREF(snapshot_fn, Py_NewRef(snapshot));
    Py_XSETREF(snapshot_attrs_fn, Py_NewRef(snapshot_attributes));
    Py_RETURN_NONE;
}

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

static int
submit_traverse(Submit *self, visitproc visit, void *arg)
{
    Py_VISIT(self->state);
    Py_VISIT(self->refused);
    Py_VISIT(self->wake);
    Py_VISIT(self->python);
    Py_VISIT(self->queue_type);
    Py_VISIT(self->append);
    return 0;
}

static int
submit_clear(Submit *self)
{
    Py_CLEAR(self->state);
    Py_CLEAR(self->refused);
    Py_CLEAR(self->wake);
    Py_CLEAR(self->python);
    Py_CLEAR(self->queue_type);
    Py_CLEAR(self->append);
    return 0;
}

static void
submit_dealloc(Submit *self)
{
    PyObject_GC_UnTrack(self);
    submit_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject SubmitType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openfeature_s3_export._speedups.Submit",
    .tp_doc = "Submit(state, refused, wake, python)(item): Engine.submit_python in C.",
    .tp_basicsize = sizeof(Submit),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)submit_init,
    .tp_traverse = (traverseproc)submit_traverse,
    .tp_clear = (inquiry)submit_clear,
    .tp_dealloc = (destructor)submit_dealloc,
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
    vectorcallfunc vectorcall;
} FinallyAfter;

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
    PyObject *last = PyObject_GetAttr(self->intake, str_last_evaluation);
    if (last == NULL) {
        Py_DECREF(evaluation);
        return NULL;
    }
    Py_DECREF(last); /* compared by identity only; the intake keeps it */
    PyObject *result;
    if (evaluation == last && evaluation != Py_None) {
        result = PyObject_CallNoArgs(self->duplicate);
    }
    else if (PyObject_SetAttr(self->intake, str_last_evaluation, evaluation) < 0) {
        result = NULL;
    }
    else {
        PyObject *record = make_record(hook_context, details, evaluation);
        PyObject *submit = record == NULL ? NULL : PyObject_GetAttr(self->intake, str_submit);
        result = submit == NULL ? NULL : PyObject_CallOneArg(submit, record);
        Py_XDECREF(submit);
        Py_XDECREF(record);
    }
    Py_DECREF(evaluation);
    return result;
}

static PyObject *
finally_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    FinallyAfter *self = (FinallyAfter *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *given[3] = {NULL, NULL, NULL};
    if (nargs > 3)
        goto bad_arguments;
    for (Py_ssize_t i = 0; i < nargs; i++)
        given[i] = args[i];
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        int slot = finally_slot(PyTuple_GET_ITEM(kwnames, k));
        if (slot < 0 || given[slot] != NULL)
            goto bad_arguments;
        given[slot] = args[nargs + k];
    }
    if (given[0] == NULL || given[1] == NULL || given[2] == NULL)
        goto bad_arguments;
    PyObject *result = finally_capture(self, given[0], given[1]);
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
    self->vectorcall = finally_vectorcall;
    return 0;
}

static int
finally_traverse(FinallyAfter *self, visitproc visit, void *arg)
{
    Py_VISIT(self->intake);
    Py_VISIT(self->duplicate);
    Py_VISIT(self->failed);
    return 0;
}

static int
finally_clear(FinallyAfter *self)
{
    Py_CLEAR(self->intake);
    Py_CLEAR(self->duplicate);
    Py_CLEAR(self->failed);
    return 0;
}

static void
finally_dealloc(FinallyAfter *self)
{
    PyObject_GC_UnTrack(self);
    finally_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject FinallyAfterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openfeature_s3_export._speedups.FinallyAfter",
    .tp_doc = "FinallyAfter(intake)(hook_context, details, hints): ExportHook.finally_after.",
    .tp_basicsize = sizeof(FinallyAfter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)finally_init,
    .tp_traverse = (traverseproc)finally_traverse,
    .tp_clear = (inquiry)finally_clear,
    .tp_dealloc = (destructor)finally_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(FinallyAfter, vectorcall),
};

/* -- LineJoiner ----------------------------------------------------------------------------- */

/* Record layout (see _capture.py) and the outcome key RowBuilder builds from it. */
enum {
    R_KIND, R_TIME_NS, R_ATTRIBUTES, R_TARGETING_KEY, R_FLAG_KEY, R_FLAG_TYPE, R_DEFAULT, R_VALUE,
    R_VARIANT, R_REASON, R_ERROR_CODE, R_ERROR_MESSAGE, R_METADATA, R_PROVIDER, R_DOMAIN,
    R_SIZE
};
#define KEY_SIZE 13

typedef struct {
    PyObject_HEAD
    PyObject *lines;          /* dict: flag key -> list of (outcome key, line parts or None) */
    PyObject *fallback;       /* the Python encode, for every case not handled here */
    PyObject *stamps;         /* _ids.Stamps of this builder */
    PyObject *id_counter;     /* _ids.ID_COUNTER */
    PyObject *id_tails;       /* _ids.ID_TAILS (refilled in place after a fork) */
    PyObject *micros;         /* _ids.MICROS */
    PyObject *json_string;    /* orjson.dumps */
    PyObject *metadata_key;   /* _rows._metadata_key */
    PyObject *private_key;    /* privacy.PRIVATE_ATTRIBUTES_KEY */
    PyTypeObject *line_type;  /* _encoding.EncodedLine */
    int filter;               /* the context policy may change a context: 0 none, 1 listed, 2 all */
    vectorcallfunc vectorcall;
} LineJoiner;

static inline int
comparable(PyObject *v)
{
    /* The types RowBuilder compares as they are (_rows._COMPARABLE) */
    PyTypeObject *t = Py_TYPE(v);
    return t == &PyUnicode_Type || t == &PyLong_Type || t == &PyBool_Type || v == Py_None;
}

static PyObject *
slow(LineJoiner *self, PyObject *record)
{
    return PyObject_CallOneArg(self->fallback, record);
}

/* The parts cached for this record's flag outcome: a new reference to a tuple of five bytes,
 * NULL (an error set or not) when the Python path must take the record.  The comparisons may
 * run Python code (an __eq__), so everything read from the cache is held while they run. */
static PyObject *
cached_parts(LineJoiner *self, PyObject *const *r, PyObject *context)
{
    PyObject *value = r[R_VALUE], *deflt = r[R_DEFAULT];
    if (!comparable(value) || !comparable(deflt))
        return NULL;
    PyObject *kind = Py_None;
    if (context != NULL && (kind = PyDict_GetItemWithError(context, str_kind)) == NULL) {
        if (PyErr_Occurred())
            return NULL;
        kind = Py_None;
    }
    PyObject *metadata_key =
        r[R_METADATA] == Py_None ? PyTuple_New(0) : PyObject_CallOneArg(self->metadata_key, r[R_METADATA]);
    if (metadata_key == NULL)
        return NULL;
    PyObject *outcomes = PyDict_GetItemWithError(self->lines, r[R_FLAG_KEY]);
    if (outcomes == NULL || !PyList_CheckExact(outcomes)) {
        Py_DECREF(metadata_key);
        return NULL;
    }
    Py_INCREF(outcomes);
    Py_INCREF(kind);
    PyObject *key[KEY_SIZE] = {
        value, (PyObject *)Py_TYPE(value), r[R_VARIANT], r[R_REASON], r[R_ERROR_CODE], deflt,
        (PyObject *)Py_TYPE(deflt), r[R_FLAG_TYPE], r[R_PROVIDER], r[R_DOMAIN], r[R_ERROR_MESSAGE],
        kind, metadata_key,
    };
    PyObject *found = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(outcomes) && found == NULL; i++) {
        PyObject *entry = PyList_GET_ITEM(outcomes, i);
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2)
            break;
        PyObject *known = PyTuple_GET_ITEM(entry, 0);
        if (!PyTuple_CheckExact(known) || PyTuple_GET_SIZE(known) != KEY_SIZE)
            continue;
        Py_INCREF(entry);
        int same = 1;
        for (int k = 0; k < KEY_SIZE && same > 0; k++)
            /* as tuple ==: the known key's item on the left */
            same = PyObject_RichCompareBool(PyTuple_GET_ITEM(known, k), key[k], Py_EQ);
        if (same > 0)
            found = Py_NewRef(PyTuple_GET_ITEM(entry, 1));
        Py_DECREF(entry);
        if (same < 0)
            break;
    }
    Py_DECREF(outcomes);
    Py_DECREF(kind);
    Py_DECREF(metadata_key);
    if (found == NULL)
        return NULL;
    int usable = PyTuple_CheckExact(found) && PyTuple_GET_SIZE(found) == 5;
    for (int i = 0; usable && i < 5; i++)
        usable = PyBytes_CheckExact(PyTuple_GET_ITEM(found, i));
    if (!usable)
        Py_CLEAR(found); /* None: a line encoded whole */
    return found;
}

/* *text* (JSON text) as a JSON string literal: only '"' and '\\' need escaping, as JSON text
 * has no raw control characters.  New reference. */
static PyObject *
quote_json(PyObject *text)
{
    const char *s = PyBytes_AS_STRING(text);
    Py_ssize_t n = PyBytes_GET_SIZE(text), extra = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        extra += (s[i] == '"' || s[i] == '\\');
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + extra + 2);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    *o++ = '"';
    if (extra == 0) {
        memcpy(o, s, n);
        o += n;
    }
    else {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (s[i] == '"' || s[i] == '\\')
                *o++ = '\\';
            *o++ = s[i];
        }
    }
    *o = '"';
    return out;
}

/* A str of printable ASCII other than '"' and '\\' as a JSON string literal (what orjson
 * writes for it); NULL with no error set for any other text, which orjson quotes. */
static PyObject *
quote_plain(PyObject *text)
{
    if (PyUnicode_READY(text) < 0 || !PyUnicode_IS_ASCII(text))
        return NULL;
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
            return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n + 2);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    o[0] = '"';
    memcpy(o + 1, s, n);
    o[n + 1] = '"';
    return out;
}

static PyObject *
joiner_line(LineJoiner *self, PyObject *record)
{
    if (!PyTuple_CheckExact(record) || PyTuple_GET_SIZE(record) != R_SIZE
        || PyTuple_GET_ITEM(record, R_KIND) != evaluation_kind)
        return slow(self, record);
    PyObject *const *r = &PyTuple_GET_ITEM(record, 0);
    PyObject *attributes = r[R_ATTRIBUTES], *context = NULL;
    if (attributes != Py_None) {
        if (!PyDict_CheckExact(attributes))
            return slow(self, record); /* RichAttributes: the normalising encoder */
        if (PyDict_GET_SIZE(attributes) > 0) {
            if (self->filter == 2)
                return slow(self, record);
            if (self->filter == 1) {
                int listed = PyDict_Contains(attributes, self->private_key);
                if (listed != 0) {
                    if (listed < 0)
                        PyErr_Clear();
                    return slow(self, record);
                }
            }
            context = attributes;
        }
    }
    if (!PyLong_CheckExact(r[R_TIME_NS]))
        return slow(self, record);
    PyObject *targeting_key = r[R_TARGETING_KEY];
    if (targeting_key != Py_None && !PyUnicode_CheckExact(targeting_key))
        return slow(self, record);
    PyObject *parts = cached_parts(self, r, context);
    if (parts == NULL) {
        PyErr_Clear();
        return slow(self, record);
    }
    PyObject *key_json = NULL, *context_json = NULL, *context_text = NULL, *time_us_obj = NULL,
             *ms_obj = NULL, *id_prefix = NULL, *time_prefix = NULL, *counter = NULL, *data = NULL,
             *line = NULL;
    if (targeting_key == Py_None)
        key_json = PyBytes_FromStringAndSize("null", 4);
    else if ((key_json = quote_plain(targeting_key)) == NULL && !PyErr_Occurred())
        key_json = PyObject_CallOneArg(self->json_string, targeting_key);
    if (key_json == NULL || !PyBytes_CheckExact(key_json))
        goto fall_back;
    if (context == NULL)
        context_json = PyBytes_FromStringAndSize("\"{}\"", 4);
    else {
        context_text = PyObject_CallOneArg(self->json_string, context);
        if (context_text == NULL || !PyBytes_CheckExact(context_text))
            goto fall_back;
        context_json = quote_json(context_text);
    }
    if (context_json == NULL)
        goto fall_back;
    long long time_ns = PyLong_AsLongLong(r[R_TIME_NS]);
    if (time_ns == -1 && PyErr_Occurred())
        goto fall_back;
    /* Python's floor division, for the odd negative time */
    long long time_us = time_ns / 1000 - (time_ns % 1000 < 0);
    long long ms = time_us / 1000 - (time_us % 1000 < 0);
    long long within = time_us - ms * 1000;
    if ((ms_obj = PyObject_GetAttr(self->stamps, str_ms)) == NULL)
        goto fall_back;
    long long stamped = PyLong_AsLongLong(ms_obj);
    if (stamped == -1 && PyErr_Occurred())
        goto fall_back;
    if (stamped != ms) {
        Py_DECREF(ms_obj);
        if ((ms_obj = PyLong_FromLongLong(ms)) == NULL)
            goto fall_back;
        PyObject *done = PyObject_CallMethodOneArg(self->stamps, str_at, ms_obj);
        if (done == NULL)
            goto fall_back;
        Py_DECREF(done);
    }
    if ((id_prefix = PyObject_GetAttr(self->stamps, str_id_prefix)) == NULL
        || (time_prefix = PyObject_GetAttr(self->stamps, str_time_prefix)) == NULL
        || !PyBytes_CheckExact(id_prefix) || !PyBytes_CheckExact(time_prefix)
        || !PyList_CheckExact(self->id_tails) || PyList_GET_SIZE(self->id_tails) != 4096
        || !PyList_CheckExact(self->micros) || PyList_GET_SIZE(self->micros) != 1000)
        goto fall_back;
    PyObject *micro = PyList_GET_ITEM(self->micros, within);
    if (!PyBytes_CheckExact(micro))
        goto fall_back;
    /* Last, so that a fall-back above has not used up a counter value. */
    if ((counter = PyIter_Next(self->id_counter)) == NULL)
        goto fall_back;
    long long count = PyLong_AsLongLong(counter);
    if (count == -1 && PyErr_Occurred())
        goto fall_back;
    PyObject *tail = PyList_GET_ITEM(self->id_tails, count & 0xFFF);
    if (!PyBytes_CheckExact(tail))
        goto fall_back;
    PyObject *pieces[11] = {
        PyTuple_GET_ITEM(parts, 0), id_prefix, tail, PyTuple_GET_ITEM(parts, 1), time_prefix,
        micro, PyTuple_GET_ITEM(parts, 2), key_json, PyTuple_GET_ITEM(parts, 3), context_json,
        PyTuple_GET_ITEM(parts, 4),
    };
    Py_ssize_t size = 0;
    for (int i = 0; i < 11; i++)
        size += PyBytes_GET_SIZE(pieces[i]);
    if ((data = PyBytes_FromStringAndSize(NULL, size)) == NULL)
        goto release;
    char *out = PyBytes_AS_STRING(data);
    for (int i = 0; i < 11; i++) {
        memcpy(out, PyBytes_AS_STRING(pieces[i]), PyBytes_GET_SIZE(pieces[i]));
        out += PyBytes_GET_SIZE(pieces[i]);
    }
    if ((time_us_obj = PyLong_FromLongLong(time_us)) == NULL)
        goto release;
    if ((line = self->line_type->tp_alloc(self->line_type, 3)) == NULL)
        goto release;
    PyTuple_SET_ITEM(line, 0, data);
    PyTuple_SET_ITEM(line, 1, time_us_obj);
    PyTuple_SET_ITEM(line, 2, Py_NewRef(targeting_key));
    /* A line holds bytes, an int and a str: it can be in no cycle, and batches keep thousands
     * of them alive long enough for every collection to walk them otherwise. */
    PyObject_GC_UnTrack(line);
    data = time_us_obj = NULL;
    goto release;
fall_back:
    /* Nothing is half done: the Python path encodes the record from the start (and raises
     * the EncodingError this would have met). */
    PyErr_Clear();
    line = slow(self, record);
release:
    Py_DECREF(parts);
    Py_XDECREF(key_json);
    Py_XDECREF(context_text);
    Py_XDECREF(context_json);
    Py_XDECREF(ms_obj);
    Py_XDECREF(id_prefix);
    Py_XDECREF(time_prefix);
    Py_XDECREF(counter);
    Py_XDECREF(data);
    Py_XDECREF(time_us_obj);
    return line;
}

static PyObject *
joiner_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "LineJoiner takes one capture record");
        return NULL;
    }
    return joiner_line((LineJoiner *)callable, args[0]);
}

static int
joiner_init(LineJoiner *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"lines", "fallback", "stamps", "id_counter", "id_tails", "micros",
                             "json_string", "metadata_key", "private_key", "line_type", "filter",
                             NULL};
    PyObject *lines, *fallback, *stamps, *id_counter, *id_tails, *micros, *json_string,
        *metadata_key, *private_key, *line_type;
    int filter;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOOO!O!OOUO!i:LineJoiner", kwlist, &PyDict_Type,
                                     &lines, &fallback, &stamps, &id_counter, &PyList_Type,
                                     &id_tails, &PyList_Type, &micros, &json_string, &metadata_key,
                                     &private_key, &PyType_Type, &line_type, &filter))
        return -1;
    if (!PyType_IsSubtype((PyTypeObject *)line_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "line_type must be a tuple subclass");
        return -1;
    }
    if (filter < 0 || filter > 2) {
        PyErr_SetString(PyExc_ValueError, "filter is 0, 1 or 2");
        return -1;
    }
    Py_XSETREF(self->lines, Py_NewRef(lines));
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    Py_XSETREF(self->stamps, Py_NewRef(stamps));
    Py_XSETREF(self->id_counter, Py_NewRef(id_counter));
    Py_XSETREF(self->id_tails, Py_NewRef(id_tails));
    Py_XSETREF(self->micros, Py_NewRef(micros));
    Py_XSETREF(self->json_string, Py_NewRef(json_string));
    Py_XSETREF(self->metadata_key, Py_NewRef(metadata_key));
    Py_XSETREF(self->private_key, Py_NewRef(private_key));
    Py_XSETREF(self->line_type, (PyTypeObject *)Py_NewRef(line_type));
    self->filter = filter;
    self->vectorcall = joiner_vectorcall;
    return 0;
}

static int
joiner_traverse(LineJoiner *self, visitproc visit, void *arg)
{
    Py_VISIT(self->lines);
    Py_VISIT(self->fallback);
    Py_VISIT(self->stamps);
    Py_VISIT(self->id_counter);
    Py_VISIT(self->id_tails);
    Py_VISIT(self->micros);
    Py_VISIT(self->json_string);
    Py_VISIT(self->metadata_key);
    Py_VISIT(self->private_key);
    Py_VISIT(self->line_type);
    return 0;
}

static int
joiner_clear(LineJoiner *self)
{
    Py_CLEAR(self->lines);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->stamps);
    Py_CLEAR(self->id_counter);
    Py_CLEAR(self->id_tails);
    Py_CLEAR(self->micros);
    Py_CLEAR(self->json_string);
    Py_CLEAR(self->metadata_key);
    Py_CLEAR(self->private_key);
    Py_CLEAR(self->line_type);
    return 0;
}

static void
joiner_dealloc(LineJoiner *self)
{
    PyObject_GC_UnTrack(self);
    joiner_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject LineJoinerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openfeature_s3_export._speedups.LineJoiner",
    .tp_doc = "LineJoiner(...)(record): an evaluation's encoded line (see _rows.RowBuilder).",
    .tp_basicsize = sizeof(LineJoiner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)joiner_init,
    .tp_traverse = (traverseproc)joiner_traverse,
    .tp_clear = (inquiry)joiner_clear,
    .tp_dealloc = (destructor)joiner_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(LineJoiner, vectorcall),
};

/* -- module -------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"evaluation_record", (PyCFunction)(void (*)(void))evaluation_record, METH_FASTCALL,
     "evaluation_record(hook_context, details): the capture record (see _capture.py)."},
    {"bind", bind, METH_VARARGS,
     "bind(snapshot, snapshot_attributes): the Python copies the capture falls back to."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_speedups", "Optional C versions of the per-event hot paths.", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
#define INTERN(var, text)                                   \
    if ((var = PyUnicode_InternFromString(text)) == NULL) \
        return NULL;
    INTERN(str_value, "value");
    INTERN(str_default_value, "default_value");
    INTERN(str_evaluation_context, "evaluation_context");
    INTERN(str_attributes, "attributes");
    INTERN(str_provider_metadata, "provider_metadata");
    INTERN(str_client_metadata, "client_metadata");
    INTERN(str_targeting_key, "targeting_key");
    INTERN(str_flag_key, "flag_key");
    INTERN(str_flag_type, "flag_type");
    INTERN(str_variant, "variant");
    INTERN(str_reason, "reason");
    INTERN(str_error_code, "error_code");
    INTERN(str_error_message, "error_message");
    INTERN(str_flag_metadata, "flag_metadata");
    INTERN(str_name, "name");
    INTERN(str_domain, "domain");
    INTERN(str_hook_context, "hook_context");
    INTERN(str_details, "details");
    INTERN(str_hints, "hints");
    INTERN(str_last_evaluation, "last_evaluation");
    INTERN(str_submit, "submit");
    INTERN(str_duplicate_hook, "duplicate_hook");
    INTERN(str_capture_failed, "capture_failed");
    INTERN(str__queue, "_queue");
    INTERN(str__max_queue, "_max_queue");
    INTERN(str__wake_at, "_wake_at");
    INTERN(str_append, "append");
    INTERN(str_kind, "kind");
    INTERN(str_ms, "ms");
    INTERN(str_at, "at");
    INTERN(str_id_prefix, "id_prefix");
    INTERN(str_time_prefix, "time_prefix");
#undef INTERN
    if ((evaluation_kind = PyLong_FromLong(0)) == NULL)
        return NULL;
    if (PyType_Ready(&LineJoinerType) < 0 || PyType_Ready(&FinallyAfterType) < 0
        || PyType_Ready(&SubmitType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "LineJoiner", (PyObject *)&LineJoinerType) < 0 ||
        PyModule_AddObjectRef(module, "FinallyAfter", (PyObject *)&FinallyAfterType) < 0 ||
        PyModule_AddObjectRef(module, "Submit", (PyObject *)&SubmitType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
