/*
 * bounce-error.c - the one error domain of libbounce.
 */
#include "bounce.h"

G_DEFINE_QUARK (bounce-error-quark, bounce_error)
