/* mpsc_internal.h - what other modules may know about mpsc receivers. */
#ifndef ACHAN_MPSC_INTERNAL_H
#define ACHAN_MPSC_INTERNAL_H

#include "achan/mpsc.h"

/* The mpsc receiver that s is (its stream view), or NULL when s is another
 * kind of stream. Lets adapters use achan_mpsc_poll_recv_many. */
achan_mpsc_receiver *achan__mpsc_receiver_of(achan_stream *s);

#endif /* ACHAN_MPSC_INTERNAL_H */
