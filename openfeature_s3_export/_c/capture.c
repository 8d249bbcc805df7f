/* The capture record of one evaluation, on the caller's thread: what
 * openfeature_s3_export._capture.py_evaluation_record defines. */
#include "speedups.h"

static inline int
is_immutable(PyObject *v)
{
    /* isinstance(v, (bool, str, int, float, NoneType)) */
    return v == Py_None || PyUnicode_Check(v) || PyLong_Check(v) || PyFloat_Check(v);
}

/* *v* as the record keeps it (a snapshot of anything mutable), stealing the reference */
static PyObject *
copied(PyObject *v)
{
    if (v == NULL || is_immutable(v))
        return v;
    PyObject *copy = PyObject_CallOneArg(snapshot_fn, v);
    Py_DECREF(v);
    return copy;
}

/* Whether *attributes* is a dict of JSON scalars (str, int, bool, None, finite float), which
 * the record keeps as key/value pairs; snapshot_attributes copies anything else, making the
 * same decision in Python. */
static int
plain_attributes(PyObject *attributes)
{
    if (!PyDict_CheckExact(attributes))
        return 0;
    Py_ssize_t pos = 0;
    PyObject *key, *v;
    while (PyDict_Next(attributes, &pos, &key, &v)) {
        PyTypeObject *t = Py_TYPE(v);
        if (t == &PyUnicode_Type || t == &PyLong_Type || t == &PyBool_Type || v == Py_None)
            continue;
        if (t == &PyFloat_Type) {
            double d = PyFloat_AS_DOUBLE(v);
            if (d - d == 0.0) /* finite */
                continue;
        }
        return 0;
    }
    return 1;
}

static int
now_ns(long long *ns)
{
#ifdef CLOCK_REALTIME
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0) {
        *ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        return 0;
    }
#endif
    PyErr_SetString(PyExc_OSError, "clock_gettime(CLOCK_REALTIME) failed");
    return -1;
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

/* -- reading the SDK's objects ------------------------------------------------------------ */

/* PyObject_GetAttr costs about 190 instructions a read on CPython 3.11 (the type's lookup for a
 * descriptor, then the instance's values), and the capture reads sixteen.  For an object whose
 * type has plain attribute access (no __getattr__ or __getattribute__ of its own) and no data
 * descriptor under any of the names read, getattr returns what the instance's __dict__ holds,
 * or the class's attribute when the instance has none: so the capture reads the __dict__ (one
 * dict lookup a name) and falls back to getattr.  The type is checked once per version: its
 * tp_version_tag changes whenever it or a base is modified. */
typedef struct {
    PyTypeObject *type; /* a strong reference, or NULL before the first check */
    unsigned int version;
    int plain;
} TypeCheck;

typedef struct {
    PyObject *object; /* borrowed */
    PyObject *dict;   /* a new reference, or NULL: every name read through getattr */
} Fields;

static PyObject *
type_dict(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyType_GetDict(type); /* static builtin types keep theirs elsewhere since 3.12 */
#else
    return Py_XNewRef(type->tp_dict);
#endif
}

/* 1 when no data descriptor along the MRO takes *name* from the instance's __dict__, 0 when
 * one does (or the MRO cannot be read), -1 on error. */
static int
dict_decides(PyTypeObject *type, PyObject *name)
{
    PyObject *mro = type->tp_mro;
    if (mro == NULL || !PyTuple_Check(mro))
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        if (!PyType_Check(base))
            return 0;
        PyObject *dict = type_dict((PyTypeObject *)base);
        if (dict == NULL)
            return PyErr_Occurred() ? -1 : 0;
        PyObject *found = PyDict_GetItemWithError(dict, name);
        int decided = found == NULL ? (PyErr_Occurred() ? -1 : 2) : Py_TYPE(found)->tp_descr_set == NULL;
        Py_DECREF(dict);
        if (decided != 2)
            return decided; /* the first class along the MRO that has the name decides */
    }
    return 1;
}

static int
plain_type(PyTypeObject *type, TypeCheck *check, PyObject *const *names, int n)
{
    /* Until the type has a version (the first generic getattr gives it one), read through
     * getattr: there is nothing to tell a later change by. */
    if (!PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG))
        return 0;
    if (type == check->type && type->tp_version_tag == check->version)
        return check->plain;
    int plain = type->tp_getattro == PyObject_GenericGetAttr;
    for (int i = 0; plain && i < n; i++) {
        plain = dict_decides(type, names[i]);
        if (plain < 0) {
            PyErr_Clear();
            plain = 0;
        }
    }
    Py_XSETREF(check->type, (PyTypeObject *)Py_NewRef((PyObject *)type));
    check->version = type->tp_version_tag;
    check->plain = plain;
    return plain;
}

static void
open_fields(Fields *fields, PyObject *object, TypeCheck *check, PyObject *const *names, int n)
{
    fields->object = object;
    fields->dict = NULL;
    if (plain_type(Py_TYPE(object), check, names, n)) {
        fields->dict = PyObject_GenericGetDict(object, NULL);
        if (fields->dict == NULL) { /* no __dict__ after all (__slots__): getattr from now on */
            PyErr_Clear();
            check->plain = 0;
        }
    }
}

/* getattr(object, name), a new reference */
static PyObject *
field(Fields *fields, PyObject *name)
{
    if (fields->dict != NULL) {
        PyObject *v = PyDict_GetItemWithError(fields->dict, name);
        if (v != NULL)
            return Py_NewRef(v);
        if (PyErr_Occurred())
            return NULL;
    }
    return PyObject_GetAttr(fields->object, name);
}

static TypeCheck hook_context_type, details_type, context_type;

/* The capture record of one evaluation; *client* is hook_context.client_metadata when the
 * caller has read it already (borrowed), else NULL. */
PyObject *
make_record(PyObject *hook_context, PyObject *details, PyObject *client)
{
    if (snapshot_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_speedups.bind() was not called");
        return NULL;
    }
    PyObject *f[R_SIZE] = {NULL}, *context = NULL, *attributes = NULL;
    Record *record = NULL;
    long long time_ns;
    Fields hook = {hook_context, NULL}, result = {details, NULL}, merged = {NULL, NULL};
    PyObject *hook_names[] = {str_default_value, str_evaluation_context, str_flag_key, str_flag_type,
                              str_provider_metadata, str_client_metadata};
    PyObject *details_names[] = {str_value, str_variant, str_reason, str_error_code, str_error_message,
                                 str_flag_metadata};
    PyObject *context_names[] = {str_attributes, str_targeting_key};
    open_fields(&hook, hook_context, &hook_context_type, hook_names, 6);
    open_fields(&result, details, &details_type, details_names, 6);
    /* Read in the order of py_evaluation_record; every field a new reference in f. */
#define GET(i, expr)              \
    do {                          \
        if ((f[i] = (expr)) == NULL) \
            goto fail;            \
    } while (0)
    f[R_KIND] = Py_NewRef(evaluation_kind);
    GET(R_VALUE, copied(field(&result, str_value)));
    GET(R_DEFAULT, copied(field(&hook, str_default_value)));
    if ((context = field(&hook, str_evaluation_context)) == NULL)
        goto fail;
    open_fields(&merged, context, &context_type, context_names, 2);
    if ((attributes = field(&merged, str_attributes)) == NULL)
        goto fail;
    if (now_ns(&time_ns) < 0)
        goto fail;
    int truth = PyObject_IsTrue(attributes);
    if (truth < 0)
        goto fail;
    /* Copied here, where py_evaluation_record takes its snapshot: reading the fields below may
     * run Python code (a property) that changes the attributes. */
    int pairs = truth && plain_attributes(attributes);
    if (!truth)
        f[R_ATTRIBUTES] = Py_NewRef(Py_None);
    else if (!pairs && (f[R_ATTRIBUTES] = PyObject_CallOneArg(snapshot_attrs_fn, attributes)) == NULL)
        goto fail;
    if ((record = record_new(pairs ? PyDict_GET_SIZE(attributes) : 0)) == NULL)
        goto fail;
    if (pairs) { /* nothing here runs Python code: the dict stays as plain_attributes saw it */
        Py_ssize_t pos = 0, i = 0;
        PyObject *key, *value;
        while (PyDict_Next(attributes, &pos, &key, &value)) {
            record->pairs[i++] = Py_NewRef(key);
            record->pairs[i++] = Py_NewRef(value);
        }
    }
    GET(R_TARGETING_KEY, field(&merged, str_targeting_key));
    GET(R_FLAG_KEY, field(&hook, str_flag_key));
    GET(R_FLAG_TYPE, field(&hook, str_flag_type));
    GET(R_VARIANT, field(&result, str_variant));
    GET(R_REASON, field(&result, str_reason));
    GET(R_ERROR_CODE, field(&result, str_error_code));
    GET(R_ERROR_MESSAGE, field(&result, str_error_message));
    GET(R_METADATA, or_none(field(&result, str_flag_metadata)));
    GET(R_PROVIDER, name_of(field(&hook, str_provider_metadata), str_name));
    GET(R_DOMAIN, name_of(client != NULL ? Py_NewRef(client) : field(&hook, str_client_metadata), str_domain));
#undef GET
    record->time_ns = time_ns;
    memcpy(record->fields, f, sizeof(f)); /* the references move to the record */
    Py_DECREF(attributes);
    Py_DECREF(context);
    Py_XDECREF(hook.dict);
    Py_XDECREF(result.dict);
    Py_XDECREF(merged.dict);
    return (PyObject *)record;
fail:
    for (int i = 0; i < R_SIZE; i++)
        Py_XDECREF(f[i]);
    Py_XDECREF(record); /* its pairs, if any: the fields are still in f */
    Py_XDECREF(attributes);
    Py_XDECREF(context);
    Py_XDECREF(hook.dict);
    Py_XDECREF(result.dict);
    Py_XDECREF(merged.dict);
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
