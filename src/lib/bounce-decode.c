/*
 * bounce-decode.c - non-standard bounce formats, feedback reports and
 * auto-replies.  (Placeholder: recognises nothing yet.)
 */
#include "bounce-private.h"

gboolean
_bounce_decode_nonstandard (GMimeMessage *message,
                            const char *body_text,
                            BounceReport *report)
{
    return FALSE;
}
