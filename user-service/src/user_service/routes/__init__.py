"""HTTP routes: public profile (`me`), administration (`admin`), auth-service only (`internal`)."""
