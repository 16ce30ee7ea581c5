/**
 * @file
 * @brief achan/achan.h - umbrella header: every public achan header.
 *
 * achan is a C11 library of asynchronous channels (mpsc, oneshot, watch,
 * broadcast) whose receivers are streams, driven by wakers. Start with
 * achan/mpsc.h and achan/stream.h; README.md has a tour.
 */
#ifndef ACHAN_ACHAN_H
#define ACHAN_ACHAN_H

#include "achan/core.h"
#include "achan/waker.h"
#include "achan/stream.h"
#include "achan/block.h"
#include "achan/mpsc.h"
#include "achan/oneshot.h"
#include "achan/watch.h"
#include "achan/broadcast.h"
#include "achan/typed.h"
#include "achan/timer.h"
#include "achan/combinators.h"
#include "achan/select.h"
#include "achan/executor.h"
#include "achan/fd.h"

#endif /* ACHAN_ACHAN_H */
