int practiced_test_placeholder(void);
