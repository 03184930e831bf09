# Vigil bot: a static binary on a minimal, non-root image.
#
#   docker build -t vigil .
#   docker run --rm -e TELEGRAM_BOT_TOKEN_FILE=/run/secrets/token \
#     -e REDIS_URL=redis://redis:6379/0 \
#     -e VIGIL_RECIPIENTS_FILE=/etc/vigil/recipients.txt \
#     -e VIGIL_SECRET_FILE=/var/lib/vigil/bot.secret \
#     -v vigil-secret:/var/lib/vigil -v ./recipients.txt:/etc/vigil/recipients.txt:ro vigil
#
# The bot's secret must live on a persistent volume: without it, drafts and
# settings already stored cannot be opened (they are dropped, never exposed).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o /out/vigil ./cmd/vigil \
 && mkdir -p /out/var/lib/vigil

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vigil /usr/local/bin/vigil
COPY --from=build --chown=65532:65532 /out/var/lib/vigil /var/lib/vigil
USER 65532:65532
ENV VIGIL_SECRET_FILE=/var/lib/vigil/bot.secret
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["bot"]
