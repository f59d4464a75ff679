package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/maestro-sql/maestro/internal/store"
)

// actor is the user the API acts as: the store's record of cfg.User, else one made of the
// configured role and group.
func (cfg APIConfig) actor(ctx context.Context, st store.Store) (store.User, error) {
	u, err := st.UserGet(ctx, cfg.User)
	switch {
	case err == nil:
		return *u, nil
	case errors.Is(err, store.ErrNotFound):
		return store.User{Email: cfg.User, Name: cfg.User, Role: cfg.UserRole, Group: cfg.UserGroup}, nil
	}
	return store.User{}, fmt.Errorf("error loading user %q: %w", cfg.User, err)
}
