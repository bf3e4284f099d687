/*
 * status.c - messages for edad_status values.
 */
#include "edad/status.h"

const char *edad_strerror(edad_status st)
{
    switch (st) {
    case EDAD_OK: return "ok";
    case EDAD_AGAIN: return "more input needed";
    case EDAD_ERR_MALFORMED: return "malformed input";
    case EDAD_ERR_TOO_LARGE: return "size exceeds limit";
    case EDAD_ERR_NOMEM: return "out of memory";
    case EDAD_ERR_UNKNOWN: return "unknown identifier";
    case EDAD_ERR_FRAME_END: return "bad frame-end octet";
    case EDAD_ERR_IO: return "i/o error";
    case EDAD_ERR_INVALID: return "invalid argument";
    case EDAD_ERR_NOT_FOUND: return "not found";
    case EDAD_ERR_EXISTS: return "already exists";
    case EDAD_ERR_STATE: return "not allowed in this state";
    case EDAD_ERR_NOSPACE: return "buffer too small";
    case EDAD_ERR_ENCODING: return "malformed UTF-8";
    }
    return "unknown status";
}
