/*
 * bounce-decode-private.h - what the non-standard decoders
 * (bounce-decode*.c) share.  Internal to libbounce.
 */
#ifndef BOUNCE_DECODE_PRIVATE_H
#define BOUNCE_DECODE_PRIVATE_H

#include "bounce-private.h"

G_BEGIN_DECLS

/* One format of decoders.conf ([decoder NAME]). */
typedef struct {
    char *name;
    BounceRegex *from, *subject, *body, *header, *start, *end;
    gboolean need_body; /* counts only when its body matches */
    int filter[4];      /* from, header, subject, body in the prefilter */
    gboolean addressee; /* the notice's To is the failed one */
} BounceDecoder;

/* The compiled decoders.conf (keys documented there). */
struct _BounceDecoderData {
    BounceRegex *bounce_from, *role_from, *bounce_subject, *end, *recipient, *skip;
    BounceRegex *delayed, *forwarded, *error, *sender_before;
    BounceRegex *alias, *local_recipient, *local_list, *trace, *wrapper;
    BounceRegex *auto_subject, *auto_subject_weak, *challenge;
    BounceRegex *original_headers; /* built in: a pasted header block */
    BounceRegex *address;          /* built in: {ADDR}, as group "addr" */
    GPtrArray *decoders;      /* BounceDecoder*, in file order */
    GKeyFile *keys;           /* the merged key file, for extending */
    /* The decoders' from, header, subject and body patterns in one
     * prefilter (bounce-prefilter.c), made after a few messages
     * (bounce-decode-text.c); a BouncePrefilter *. */
    gsize prefilter;
    gint chosen;
};

/* What the decoders look at: the top-level message and its parts (never
 * the inside of an attached message). */
typedef struct {
    const BounceDecoderData *data;
    GMimeMessage *message;
    const char *body;          /* first text part, or NULL */
    char *html_text;           /* text of the first text/html part, tags
                                * stripped, when there is no text/plain */
    GMimeObject *feedback;     /* message/feedback-report part */
    GMimeObject *attached;     /* first message/rfc822 part */
    char *from_addr;           /* the bounce's From address, or NULL */
    char *from_text;           /* the bounce's From as written */
    char *from_lines;          /* "address\nas written", for patterns */
} BounceDecodeContext;

/* bounce-decode.c */

/* The value of header @name of the bounce itself, or NULL. */
G_GNUC_INTERNAL const char *_bounce_decode_header (BounceDecodeContext *ctx,
                                                   const char *name);

/* A new failed recipient for @address (may be NULL) with @diagnostic
 * unfolded and its codes resolved; "delayed" when a 4.x.x status or 4xx
 * reply says so, or @delayed and no permanent code.  Added to @report (which takes it); returned
 * borrowed. */
G_GNUC_INTERNAL BounceRecipient *_bounce_decode_add (BounceReport *report,
                                                     const char *address,
                                                     const char *diagnostic,
                                                     gboolean delayed);

/* bounce-decode-data.c */

/* The built-in data (compiled in, loaded once; never NULL). */
G_GNUC_INTERNAL const BounceDecoderData *_bounce_decoder_data_default (void);

/* bounce-decode-arf.c: RFC 5965 feedback reports */
G_GNUC_INTERNAL gboolean _bounce_decode_arf (BounceDecodeContext *ctx,
                                             BounceReport *report);

/* bounce-decode-auto.c: RFC 3834 auto-replies and vacation notices;
 * @bounce_like says the sender or headers look like a bounce. */
G_GNUC_INTERNAL gboolean _bounce_decode_autoreply (BounceDecodeContext *ctx,
                                                   gboolean bounce_like,
                                                   BounceReport *report);

/* bounce-decode-auto.c: a challenge-response request ("confirm you are
 * human"): not a bounce; TRUE (kind not-bounce) when it is one. */
G_GNUC_INTERNAL gboolean _bounce_decode_challenge (BounceDecodeContext *ctx,
                                                   gboolean bounce_like,
                                                   BounceReport *report);

/* bounce-decode-ses.c: Amazon SES JSON notifications */
G_GNUC_INTERNAL gboolean _bounce_decode_ses (BounceDecodeContext *ctx,
                                             BounceReport *report);

/* bounce-decode-text.c: the plain-text formats driven by decoders.conf */

/* Does the bounce's From or Subject (or X-Failed-Recipients) look like a
 * bounce? */
G_GNUC_INTERNAL gboolean _bounce_decode_bounce_like (BounceDecodeContext *ctx,
                                                     BounceReport *report);

G_GNUC_INTERNAL gboolean _bounce_decode_text (BounceDecodeContext *ctx,
                                              BounceReport *report);

G_END_DECLS

#endif /* BOUNCE_DECODE_PRIVATE_H */
