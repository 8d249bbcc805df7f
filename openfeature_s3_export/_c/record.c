/* Record: the capture record of one evaluation in one allocation.
 *
 * It reads like the tuple _capture.py_evaluation_record builds (fifteen fields, by index, by
 * iteration, sliced, compared), so that every Python reader of records takes it as it is.
 * Inside, the capture time is a C integer and the context attributes, when they are a plain
 * dict of JSON scalars, are key/value pairs after the fields: record[TIME_NS] and
 * record[CONTEXT_ATTRIBUTES] make the int and the dict when Python asks for them.
 *
 * Why: the worker frees every record on the other core, and each block it frees costs the
 * caller's thread a cache miss when the allocator hands it out again.  A tuple, an int, a dict
 * and its keys were four blocks an evaluation; this is one (docs/performance.md section 1).
 * Like the tuple it replaces, it is not tracked by the garbage collector: it holds strings,
 * numbers, the SDK's enums and copies the capture made, so no reference cycle runs through it.
 */
#include "speedups.h"

Record *
record_new(Py_ssize_t pairs)
{
    Record *record = PyObject_NewVar(Record, &RecordType, pairs);
    if (record == NULL)
        return NULL;
    record->time_ns = 0;
    memset(record->fields, 0, sizeof(record->fields));
    memset(record->pairs, 0, (size_t)(2 * pairs) * sizeof(PyObject *));
    return record;
}

PyObject *
record_attributes(Record *record)
{
    PyObject *held = record->fields[R_ATTRIBUTES];
    if (held != NULL)
        return Py_NewRef(held);
    PyObject *attributes = PyDict_New();
    if (attributes == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < Py_SIZE(record); i++) {
        if (PyDict_SetItem(attributes, record->pairs[2 * i], record->pairs[2 * i + 1]) < 0) {
            Py_DECREF(attributes);
            return NULL;
        }
    }
    return attributes;
}

static Py_ssize_t
record_length(PyObject *self)
{
    return R_SIZE;
}

static PyObject *
record_item(PyObject *self, Py_ssize_t i)
{
    Record *record = (Record *)self;
    if (i < 0 || i >= R_SIZE) {
        PyErr_SetString(PyExc_IndexError, "record index out of range");
        return NULL;
    }
    if (i == R_TIME_NS)
        return PyLong_FromLongLong(record->time_ns);
    if (i == R_ATTRIBUTES)
        return record_attributes(record);
    return Py_NewRef(record->fields[i]);
}

/* The tuple this record stands for. */
static PyObject *
record_tuple(PyObject *self)
{
    PyObject *tuple = PyTuple_New(R_SIZE);
    if (tuple == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < R_SIZE; i++) {
        PyObject *item = record_item(self, i);
        if (item == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, item);
    }
    return tuple;
}

static PyObject *
record_subscript(PyObject *self, PyObject *key)
{
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred())
            return NULL;
        return record_item(self, i < 0 ? i + R_SIZE : i);
    }
    PyObject *tuple = record_tuple(self);
    if (tuple == NULL)
        return NULL;
    PyObject *items = PyObject_GetItem(tuple, key);
    Py_DECREF(tuple);
    return items;
}

static PyObject *
record_richcompare(PyObject *self, PyObject *other, int op)
{
    if (Py_TYPE(other) != &RecordType && !PyTuple_Check(other))
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *mine = record_tuple(self);
    PyObject *theirs = Py_TYPE(other) == &RecordType ? record_tuple(other) : Py_NewRef(other);
    PyObject *result = mine == NULL || theirs == NULL ? NULL : PyObject_RichCompare(mine, theirs, op);
    Py_XDECREF(mine);
    Py_XDECREF(theirs);
    return result;
}

static PyObject *
record_repr(PyObject *self)
{
    PyObject *tuple = record_tuple(self);
    if (tuple == NULL)
        return NULL;
    PyObject *repr = PyUnicode_FromFormat("Record%R", tuple);
    Py_DECREF(tuple);
    return repr;
}

static void
record_dealloc(PyObject *self)
{
    Record *record = (Record *)self;
    for (int i = 0; i < R_SIZE; i++)
        Py_XDECREF(record->fields[i]);
    for (Py_ssize_t i = 0; i < 2 * Py_SIZE(record); i++)
        Py_XDECREF(record->pairs[i]);
    Py_TYPE(self)->tp_free(self);
}

static PySequenceMethods record_as_sequence = {
    .sq_length = record_length,
    .sq_item = record_item,
};

static PyMappingMethods record_as_mapping = {
    .mp_length = record_length,
    .mp_subscript = record_subscript,
};

PyTypeObject RecordType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "openfeature_s3_export._speedups.Record",
    .tp_doc = "The capture record of one evaluation, read as the tuple _capture.py_evaluation_record builds.",
    .tp_basicsize = offsetof(Record, pairs),
    .tp_itemsize = 2 * sizeof(PyObject *),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = record_dealloc,
    .tp_repr = record_repr,
    .tp_as_sequence = &record_as_sequence,
    .tp_as_mapping = &record_as_mapping,
    .tp_richcompare = record_richcompare,
    .tp_hash = PyObject_HashNotImplemented,
};
