/* The capture record of one evaluation, on the caller's thread: what
 * openfeature_s3_export._capture.py_evaluation_record defines. */
#include "speedups.h"

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
PyObject *
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

PyObject *
evaluation_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "evaluation_record(hook_context, details)");
        return NULL;
    }
    return make_record(args[0], args[1], NULL);
}

PyObject *
capture_bind(PyObject *module, PyObject *args)
{
    PyObject *snapshot, *snapshot_attributes;
    if (!PyArg_ParseTuple(args, "OO:bind", &snapshot, &snapshot_attributes))
        return NULL;
    Py_XSETREF(snapshot_fn, Py_NewRef(snapshot));
    Py_XSETREF(snapshot_attrs_fn, Py_NewRef(snapshot_attributes));
    Py_RETURN_NONE;
}
