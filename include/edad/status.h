/*
 * status.h - the one status type every edad function returns.
 *
 * EDAD_OK is success, EDAD_AGAIN means "not enough input yet, call again
 * with more" and is not an error; every negative value is an error with a
 * message from edad_strerror().  AMQP reply codes are not statuses: they
 * come from the generated protocol tables (amqp.h).
 */
#ifndef EDAD_STATUS_H
#define EDAD_STATUS_H

typedef enum edad_status {
    EDAD_OK = 0,
    EDAD_AGAIN = 1,             /* need more input; not an error */
    EDAD_ERR_MALFORMED = -1,    /* input violates the wire grammar */
    EDAD_ERR_TOO_LARGE = -2,    /* a length exceeds a negotiated or fixed bound */
    EDAD_ERR_NOMEM = -3,        /* allocation failed or arena cap reached */
    EDAD_ERR_UNKNOWN = -4,      /* unknown class, method, frame or field type */
    EDAD_ERR_FRAME_END = -5,    /* frame-end octet was not 0xCE */
    EDAD_ERR_IO = -6,           /* system call failed; errno says why */
    EDAD_ERR_INVALID = -7,      /* invalid argument or configuration value */
    EDAD_ERR_NOT_FOUND = -8,    /* named entity does not exist */
    EDAD_ERR_EXISTS = -9,       /* entity exists with other properties */
    EDAD_ERR_STATE = -10,       /* operation not allowed in the current state */
    EDAD_ERR_NOSPACE = -11,     /* output buffer too small */
    EDAD_ERR_ENCODING = -12,    /* a string that must be UTF-8 is not */
} edad_status;

#define EDAD_STATUS_MIN EDAD_ERR_ENCODING

/* Human-readable text for a status; never NULL, static storage. */
const char *edad_strerror(edad_status st);

#endif
