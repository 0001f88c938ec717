# syntax=docker/dockerfile:1
# Homewatch image: both stores built in (SQLite and PostgreSQL), runs as a non-root user.
#   docker build -t homewatch .
#   docker run -p 8080:8080 -v homewatch-data:/data homewatch

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer, so that a code change does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
COPY migrations ./migrations
RUN mkdir api && echo 'fn main() {}' > api/main.rs && touch api/lib.rs \
    && cargo build --profile dist --locked --features postgres \
    && rm -rf api
COPY api ./api
RUN touch api/main.rs api/lib.rs \
    && cargo build --profile dist --locked --features postgres \
    && mkdir -p /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/dist/homewatch /usr/local/bin/homewatch
COPY web /app/web
COPY --from=build --chown=65532:65532 /data /data
ENV HOMEWATCH_LISTEN=0.0.0.0:8080 \
    HOMEWATCH_WEB_DIR=/app/web \
    DATABASE_URL=sqlite:///data/homewatch.db
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["/usr/local/bin/homewatch", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/homewatch"]
CMD ["serve"]
